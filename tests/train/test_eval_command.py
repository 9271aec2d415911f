"""``hgpose eval`` end to end: a known answer through ONNX Runtime, torch/ORT parity, bad input."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import scipy.io
from train_synthetic import TEMPLATE, TINY_MODEL, constant_onnx_model, draw_person, gaussian_peaks

from engine.crop import apply_affine, crop_matrix, input_to_heatmap
from engine.skeleton import LSP14
from train.commands.evaluate import main
from train.datasets.base import person_box

J = {name: i for i, name in enumerate(LSP14.joints)}


def _known_answer_folder(root: Path) -> tuple[np.ndarray, np.ndarray]:
    """Four people who share one base pose, except for chosen joints; returns (base (14, 3), truth)."""
    base = np.column_stack([(TEMPLATE - [0.0, 0.45]) * 70.0 + [60.0, 50.0], np.ones(14)]).astype(np.float32)
    torso = float(np.linalg.norm(base[J["L shoulder"], :2] - base[J["R hip"], :2]))
    truth = np.repeat(base[None], 4, axis=0)
    truth[1, J["R knee"], 0] += 0.5 * torso  # wrong (a limb joint)
    truth[1, J["L elbow"], 0] -= 0.5 * torso  # wrong (a limb joint)
    truth[2, J["neck"], 1] += 0.5 * torso  # wrong (not a limb joint)
    truth[2, J["L knee"], 0] += 0.1 * torso  # still within 0.2 torso: right
    truth[3, J["R elbow"]] = 0.0  # unlabelled: not counted
    (root / "images").mkdir(parents=True)
    for i, joints in enumerate(truth):
        # Moving only inner joints keeps every person's crop box identical to the base pose's.
        assert person_box(joints) == person_box(base)
        image = np.full((100, 120, 3), 90, np.uint8)
        draw_person(image, base)
        cv2.imwrite(str(root / "images" / f"im{i + 1:05d}.jpg"), image)
    scipy.io.savemat(str(root / "joints.mat"), {"joints": truth.transpose(1, 2, 0)})  # LSPET (14, 3, N)
    return base, truth


def _model_answering(base: np.ndarray, path: Path) -> Path:
    """A constant model whose heatmaps peak where the base pose lands in its crop."""
    s, h = TINY_MODEL.input_size, TINY_MODEL.heatmap_size
    in_crop = apply_affine(crop_matrix(person_box(base), s), base[:, :2])
    return constant_onnx_model(path, gaussian_peaks(input_to_heatmap(in_crop, s / h), h))


def _last_lines(capsys: pytest.CaptureFixture[str], n: int) -> list[str]:
    return capsys.readouterr().out.strip().splitlines()[-n:]


def test_eval_prints_the_known_pck(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base, _ = _known_answer_folder(tmp_path / "lsp")
    model = _model_answering(base, tmp_path / "answer.onnx")

    rc = main(["--root", str(tmp_path / "lsp"), "--model", str(model), "--backend", "onnxruntime", "--quiet",
               "--batch-size", "3"])

    assert rc == 0
    out = capsys.readouterr().out.strip().splitlines()
    # 55 labelled joints, 3 wrong; 47 labelled limb joints, 2 wrong.
    assert out[-1] == f"PCK@0.2 {52 / 55:.4f}"
    assert out[-2] == f"PCK@0.2-limbs {45 / 47:.4f}"
    rows = {line.rsplit(maxsplit=2)[0]: line.split()[-2:] for line in out if line.split()[0] in ("R", "L", "neck")}
    assert rows["R knee"] == ["0.7500", "4"]
    assert rows["neck"] == ["0.7500", "4"]
    assert rows["L knee"] == ["1.0000", "4"]
    assert rows["R elbow"] == ["1.0000", "3"]
    # None of the 3 wrong joints is a left/right mix-up: the oracle finds nothing to put right.
    assert out[-4].startswith(f"left/right oracle: PCK@0.2 {52 / 55:.4f}, limbs {45 / 47:.4f} ")


def test_eval_range_selects_images(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base, _ = _known_answer_folder(tmp_path / "lsp")
    model = _model_answering(base, tmp_path / "answer.onnx")

    assert main(["--root", str(tmp_path / "lsp"), "--model", str(model), "--range", "2:3", "--quiet"]) == 0
    # Images 2 and 3 only: 28 joints, 3 wrong; 24 limb joints, 2 wrong.
    assert _last_lines(capsys, 2) == [f"PCK@0.2-limbs {22 / 24:.4f}", f"PCK@0.2 {25 / 28:.4f}"]


def test_checkpoint_and_its_onnx_export_predict_alike(tmp_path: Path, lsp_folder,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    from engine.backends.registry import open_backend
    from engine.checkpoint import save_checkpoint
    from engine.export import export_onnx
    from engine.metadata import ModelMetadata
    from engine.model import build_model
    from train.datasets.lsp import load_lsp
    from train.evaluation import predict_samples

    root = lsp_folder(6, layout="lsp")
    ckpt = save_checkpoint(tmp_path / "m.pt", build_model(TINY_MODEL), ModelMetadata("lsp14", TINY_MODEL))
    onnx_path = export_onnx(ckpt, tmp_path / "m.onnx").path
    samples = load_lsp(root)
    preds, lines = [], []
    for model, backend in ((ckpt, "torch"), (onnx_path, "onnxruntime")):
        with open_backend(model, backend) as b:
            preds.append(predict_samples(b, samples, flip=True, batch_size=4, progress=False))
        assert main(["--root", str(root), "--model", str(model), "--backend", backend, "--flip", "--quiet"]) == 0
        lines.append(_last_lines(capsys, 16))
    assert preds[0].shape == (6, 14, 3)
    np.testing.assert_allclose(preds[0], preds[1], atol=1e-3)
    assert lines[0] == lines[1]


def test_eval_defaults_to_the_bundled_model(tmp_path: Path, lsp_folder, capsys: pytest.CaptureFixture[str]) -> None:
    from engine.assets import default_model_path
    from engine.errors import ModelError

    try:
        default_model_path()
    except ModelError:
        pytest.skip("no bundled model in this checkout")
    assert main(["--root", str(lsp_folder(2)), "--quiet"]) == 0
    value = float(_last_lines(capsys, 1)[0].split()[1])
    assert 0.0 <= value <= 1.0


@pytest.mark.parametrize("case", ["missing root", "corrupt joints.mat", "missing image", "bad range"])
def test_eval_bad_input_is_one_line(case: str, tmp_path: Path, lsp_folder,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    root = lsp_folder(2)
    args = ["--root", str(root), "--model", str(tmp_path / "never-opened.onnx"), "--quiet"]
    if case == "missing root":
        args[1] = str(tmp_path / "nowhere")
    elif case == "corrupt joints.mat":
        (root / "joints.mat").write_bytes(b"MATLAB 5.0 MAT-file, garbage" + bytes(200))
    elif case == "missing image":
        (root / "images" / "im00002.jpg").unlink()
    else:
        args += ["--range", "5:1"]

    rc = main(args)

    err = capsys.readouterr().err
    assert rc != 0
    assert err.count("\n") == 1 and err.startswith("hgpose eval: error: "), err
    assert "Traceback" not in err


@pytest.mark.parametrize("image_range", ["2:5", "3:4"])
def test_eval_refuses_a_range_past_the_last_image(image_range: str, tmp_path: Path, lsp_folder, refused) -> None:
    # Two images: 2:5 used to score 2:2, and 3:4 to end in "no annotated people", neither naming why.
    root = lsp_folder(2)
    code, err = refused(main, ["--root", str(root), "--range", image_range, "--quiet",
                               "--model", str(tmp_path / "never-opened.onnx")])
    assert (code, err) == (6, f"hgpose eval: error: image range {image_range} goes past the dataset's last "
                              f"image: {root} has 2 images (1:2)\n")


def test_eval_on_a_pack_gives_the_same_known_answer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from train.datasets.lsp import load_lsp
    from train.pack import PackSpec, write_pack

    base, _ = _known_answer_folder(tmp_path / "lsp")
    model = _model_answering(base, tmp_path / "answer.onnx")
    pack = write_pack(load_lsp(tmp_path / "lsp"), tmp_path / "val.npz", PackSpec(pack_size=96, context=1.5),
                      skeleton="lsp14", source="test", progress=False)

    assert main(["--pack", str(pack), "--model", str(model), "--backend", "onnxruntime", "--quiet"]) == 0
    # The pack crops hold each person's own box: the same crops as from the images, so the same PCK.
    assert _last_lines(capsys, 2) == [f"PCK@0.2-limbs {45 / 47:.4f}", f"PCK@0.2 {52 / 55:.4f}"]


def test_eval_wants_a_root_or_a_pack(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--quiet"])
    assert main(["--pack", str(tmp_path / "none.npz"), "--quiet"]) == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.parametrize(("args", "words"), [
    (["--batch", "0"], "argument --batch: must be at least 1, got 0"),
    (["--batch-size", "-3"], "argument --batch-size: must be at least 1, got -3"),  # the former spelling
    (["--pck-threshold", "5"], "argument --pck-threshold: must be from 0 to 1, got 5"),
    (["--pck-threshold", "0"], "argument --pck-threshold: must be above 0 and at most 1, got 0"),
    (["--pck-threshold", "nan"], "argument --pck-threshold: expected a number from 0 to 1, got 'nan'"),
])
def test_eval_refuses_bad_option_values(args: list[str], words: str, refused, tmp_path: Path) -> None:
    code, err = refused(main, ["--root", str(tmp_path), *args, "--quiet"])
    assert code == 6 and err.startswith(f"hgpose eval: error: {words}")


def test_eval_former_option_names_still_work() -> None:
    from train.commands.evaluate import build_parser

    args = build_parser().parse_args(["--root", "x", "--batch-size", "4", "--threshold", "0.5"])
    assert (args.batch, args.pck_threshold) == (4, 0.5)


@pytest.mark.parametrize("content", [b"hello\n", None])
def test_eval_on_a_file_that_is_not_a_pack(content: bytes | None, refused, tmp_path: Path) -> None:
    bogus = tmp_path / "afile.npz"
    if content is None:
        np.save(tmp_path / "afile.npy", np.zeros(3))
        bogus = tmp_path / "afile.npy"
    else:
        bogus.write_bytes(content)
    assert refused(main, ["--pack", str(bogus), "--quiet"]) == (
        2, f"hgpose eval: error: {bogus} is not an hgpose pack (make one with `hgpose prepare`)\n")


def test_eval_clean_labels_swaps_a_mirrored_person_back(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from train_synthetic import teacher_arrays

    base, truth = _known_answer_folder(tmp_path / "lsp")
    mirrored = truth.copy()
    mirrored[0] = truth[0, list(LSP14.flip_permutation())]  # person 1's labels: left and right swapped
    scipy.io.savemat(str(tmp_path / "lsp" / "joints.mat"), {"joints": mirrored.transpose(1, 2, 0)})
    teachers = tmp_path / "teachers.npz"
    np.savez(teachers, **teacher_arrays(np.repeat(base[None], 4, axis=0)))  # both teachers see the base pose
    model = _model_answering(base, tmp_path / "answer.onnx")
    common = ["--root", str(tmp_path / "lsp"), "--model", str(model), "--backend", "onnxruntime", "--quiet"]

    assert main(common) == 0
    raw = _last_lines(capsys, 4)
    assert main([*common, "--clean-labels", str(teachers)]) == 0
    captured = capsys.readouterr()
    cleaned = captured.out.strip().splitlines()[-3:]

    assert "1 of 4 people mirrored by the labels (1 whole" in captured.err
    assert raw[1].startswith("mirrored 0.2500 (1 of 4 ") and cleaned[0].startswith("mirrored 0.0000 (0 of 4 ")
    # Cleaned, person 1 is the base pose again: the known answer of the unmirrored folder.
    assert cleaned[-1] == f"PCK@0.2 {52 / 55:.4f}" and float(raw[-1].split()[-1]) < 52 / 55
    # On the mirrored labels, the left/right oracle already scores what cleaning them gives.
    assert raw[0].startswith(f"left/right oracle: PCK@0.2 {52 / 55:.4f},")


def test_eval_teachers_break_the_mirrored_share_down_by_facing(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    from train_synthetic import teacher_arrays

    base, truth = _known_answer_folder(tmp_path / "lsp")
    perm = list(LSP14.flip_permutation())
    truth[2] = base[perm]  # person 3 is seen from behind, and labelled so; the model answers "front"
    scipy.io.savemat(str(tmp_path / "lsp" / "joints.mat"), {"joints": truth.transpose(1, 2, 0)})
    seen = np.stack([base, base, base[perm], base[perm]])  # the teachers see persons 3 and 4 from behind
    arrays = teacher_arrays(seen)
    arrays["blazepose"][3] = np.nan  # ... but BlazePose found nobody in image 4: unclear
    np.savez(tmp_path / "teachers.npz", **arrays)
    model = _model_answering(base, tmp_path / "answer.onnx")

    assert main(["--root", str(tmp_path / "lsp"), "--model", str(model), "--backend", "onnxruntime", "--quiet",
                 "--teachers", str(tmp_path / "teachers.npz")]) == 0

    lines = _last_lines(capsys, 4)
    assert lines[0].startswith("mirrored 0.2500 (1 of 4 ")
    assert lines[1] == ("mirrored by facing (both teachers agree): front 0.0000 (0 of 2), "
                        "back 1.0000 (1 of 1), unclear 0.0000 (0 of 1)")


@pytest.mark.parametrize("option", ["--clean-labels", "--teachers"])
def test_eval_teacher_options_need_images(option: str, tmp_path: Path, refused) -> None:
    code, err = refused(main, ["--pack", str(tmp_path / "p.npz"), option, str(tmp_path / "t.npz")])
    assert code == 6 and f"{option} applies to --root" in err


@pytest.mark.parametrize("option", ["--clean-labels", "--teachers"])
def test_eval_names_a_file_that_is_not_a_teacher_file_without_numpys_advice(option: str, tmp_path: Path,
                                                                             lsp_folder, refused) -> None:
    video = tmp_path / "text.mp4"  # not numpy's: numpy's own message advises loading it with allow_pickle
    video.write_text("hello\n")
    code, err = refused(main, ["--root", str(lsp_folder(2)), option, str(video), "--quiet",
                               "--model", str(tmp_path / "never-opened.onnx")])
    assert (code, err) == (2, f"hgpose eval: error: {video} is not a teacher file (an .npz with movenet, "
                              "blazepose and names)\n")


def test_eval_reads_with_the_zoom_test(tmp_path: Path, lsp_folder, capsys: pytest.CaptureFixture[str]) -> None:
    from engine.backends.registry import open_backend
    from engine.checkpoint import save_checkpoint
    from engine.export import export_onnx
    from engine.metadata import ModelMetadata
    from engine.model import build_model
    from train.datasets.lsp import load_lsp
    from train.evaluation import predict_samples

    root = lsp_folder(4, layout="lsp")
    ckpt = save_checkpoint(tmp_path / "m.pt", build_model(TINY_MODEL), ModelMetadata("lsp14", TINY_MODEL))
    onnx_path = export_onnx(ckpt, tmp_path / "m.onnx").path
    samples = load_lsp(root)
    with open_backend(onnx_path, "onnxruntime") as b:
        alone = predict_samples(b, samples, flip=True, progress=False)
        zoomed = predict_samples(b, samples, flip=True, progress=False, zoom_test=True)
    np.testing.assert_array_equal(zoomed[..., 2], alone[..., 2])  # positions change, confidences do not
    assert main(["--root", str(root), "--model", str(onnx_path), "--flip", "--zoom-test", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert any(line.startswith("4 people from") and line.endswith("(flip test and zoom test)")
               for line in out.splitlines()), out
