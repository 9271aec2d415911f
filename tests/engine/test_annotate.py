"""`hgpose annotate` end to end, bad inputs, and Ctrl-C."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from engine.commands.annotate import main as annotate
from engine.model_file import int8_sibling, read_onnx_metadata
from engine.skeleton import get_skeleton
from engine.video_writer import count_video_frames


@pytest.fixture(scope="module")
def short_clip(clip_excerpt) -> Path:
    return clip_excerpt(12, "short.mp4")


def outputs(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def test_bundled_clip_end_to_end(bundled_clip: Path, bundled_model: Path, tmp_path: Path) -> None:
    assert annotate([str(bundled_clip), "--out", str(tmp_path), "--render", "--quiet"]) == 0
    decoded = count_video_frames(bundled_clip)
    doc = json.loads((tmp_path / "sports2d_walker_720p.json").read_text())
    assert doc["schema"] == "hgpose.annotations/1" and doc["complete"] is True
    assert doc["source"]["frames_decoded"] == len(doc["frames"]) == decoded == 401
    assert [f["index"] for f in doc["frames"]] == list(range(decoded))
    assert doc["skeleton"]["name"] == "lsp14" and len(doc["skeleton"]["joints"]) == 14
    assert doc["model"]["flip_test"] is True  # offline annotation flip-tests by default
    assert doc["model"]["precision"] == "int8"  # auto on the CPU: the bundled INT8 sibling
    assert doc["model"]["file"].endswith(".int8.onnx")
    assert all(len(f["keypoints"]) == 14 for f in doc["frames"])
    assert abs(doc["frames"][30]["timestamp"] - 1.0) < 1e-6
    # Angles only where all three joints clear the model's threshold calibrated for the flip test
    # (flip-test heatmaps may peak lower than a crop read alone), as on screen.
    threshold = doc["angle_min_confidence"]
    assert threshold == read_onnx_metadata(int8_sibling(bundled_model)).threshold_for(True)  # the file that ran
    spec = {name: (a, v, b) for name, a, v, b in get_skeleton("lsp14").angles}
    shown = hidden = 0
    for f in doc["frames"]:
        for name, value in f["angles"].items():
            low = min(f["keypoints"][j][2] for j in spec[name]) < threshold
            if low:
                assert value is None, (f["index"], name)
            shown += value is not None
            hidden += low
    assert shown > 0 and hidden > 0
    with open(tmp_path / "sports2d_walker_720p.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == decoded
    assert float(rows[5]["r_ankle_x"]) == doc["frames"][5]["keypoints"][0][0]
    assert count_video_frames(tmp_path / "sports2d_walker_720p.mp4") == decoded
    assert outputs(tmp_path) == ["sports2d_walker_720p.csv", "sports2d_walker_720p.json",
                                 "sports2d_walker_720p.mp4"]


def test_image_folder_and_single_image(short_clip: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    folder = tmp_path / "imgs"
    folder.mkdir()
    cap = cv2.VideoCapture(str(short_clip))
    for i in range(3):
        ok, img = cap.read()
        assert ok
        cv2.imwrite(str(folder / f"f{i}.jpg"), img)
    (folder / "notes.txt").write_text("not an image")
    (folder / "broken.png").write_bytes(b"\x89PNG garbage")
    out = tmp_path / "out"
    assert annotate([str(folder), str(folder / "f1.jpg"), "--out", str(out), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "skipped notes.txt (not an image file)" in err and "skipped broken.png" in err
    doc = json.loads((out / "imgs.json").read_text())
    assert [f["file"] for f in doc["frames"]] == ["f0.jpg", "f1.jpg", "f2.jpg"]
    assert {s["file"] for s in doc["skipped"]} == {"notes.txt", "broken.png"}
    single = json.loads((out / "f1.json").read_text())
    # Stills are independent: the same image gives the same pose alone or inside the folder.
    assert single["frames"][0]["keypoints"] == doc["frames"][1]["keypoints"]


def test_no_flip_is_recorded_and_changes_the_poses(short_clip: Path, tmp_path: Path) -> None:
    docs = {}
    for flag in ("--flip", "--no-flip"):
        assert annotate([str(short_clip), "--out", str(tmp_path / flag), "--quiet", flag]) == 0
        docs[flag] = json.loads((tmp_path / flag / "short.json").read_text())
    assert docs["--flip"]["model"]["flip_test"] is True
    assert docs["--no-flip"]["model"]["flip_test"] is False
    flipped, plain = ([f["keypoints"] for f in docs[k]["frames"]] for k in ("--flip", "--no-flip"))
    assert len(flipped) == len(plain) == 12 and flipped != plain


def test_the_zoom_test_is_on_by_default_recorded_and_moves_joints_not_crops(short_clip: Path, tmp_path: Path) -> None:
    docs = {}
    for flag in ("", "--no-zoom-test"):
        out = tmp_path / (flag or "default")
        assert annotate([str(short_clip), "--out", str(out), "--quiet", *([flag] if flag else [])]) == 0
        docs[flag] = json.loads((out / "short.json").read_text())
    assert docs[""]["model"]["zoom_test"] is True
    assert docs["--no-zoom-test"]["model"]["zoom_test"] is False
    zoomed, plain = (np.array([f["keypoints"] for f in docs[k]["frames"]]) for k in ("", "--no-zoom-test"))
    assert [f["box"] for f in docs[""]["frames"]] == [f["box"] for f in docs["--no-zoom-test"]["frames"]]
    np.testing.assert_allclose(zoomed[..., 2], plain[..., 2], atol=1e-4)
    assert np.abs(zoomed[..., :2] - plain[..., :2]).max() > 1.0


def bad(argv: list[str], capsys: pytest.CaptureFixture, expect: str) -> None:
    code = annotate([*argv, "--quiet"])
    err = capsys.readouterr().err
    assert code != 0
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and expect in lines[0], err
    assert "Traceback" not in err


def test_missing_input(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    bad([str(tmp_path / "nope.mp4"), "--out", str(tmp_path / "o")], capsys, "does not exist")
    assert outputs(tmp_path / "o") == []


def test_corrupt_video(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(os.urandom(50_000))
    bad([str(corrupt), "--out", str(tmp_path / "o")], capsys, "corrupt")
    assert outputs(tmp_path / "o") == []


def test_precision_chooses_the_file_and_the_header_says_which(short_clip: Path, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture) -> None:
    for precision in ("fp32", "int8"):
        out = tmp_path / precision
        assert annotate([str(short_clip), "--out", str(out), "--quiet", "--precision", precision]) == 0
        model = json.loads((out / "short.json").read_text())["model"]
        assert model["precision"] == precision
        assert model["file"].endswith(".int8.onnx") == (precision == "int8")
        assert f"({precision})" in capsys.readouterr().err  # the backend line names it too


def test_folder_without_images(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "a.txt").write_text("x")
    bad([str(tmp_path / "empty"), "--out", str(tmp_path / "o")], capsys, "no readable images")


def test_missing_and_corrupt_models(short_clip: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    bad([str(short_clip), "--out", str(tmp_path / "o"), "--model", str(tmp_path / "m.onnx")], capsys,
        "does not exist")
    (tmp_path / "junk.onnx").write_bytes(os.urandom(4000))
    bad([str(short_clip), "--out", str(tmp_path / "o"), "--model", str(tmp_path / "junk.onnx")], capsys,
        "not a valid ONNX")
    (tmp_path / "junk.pt").write_bytes(os.urandom(4000))
    bad([str(short_clip), "--out", str(tmp_path / "o"), "--model", str(tmp_path / "junk.pt"),
         "--backend", "torch"], capsys, "not a valid hgpose checkpoint")
    (tmp_path / "m.txt").write_text("x")
    bad([str(short_clip), "--out", str(tmp_path / "o"), "--model", str(tmp_path / "m.txt")], capsys,
        "unknown model type")
    assert outputs(tmp_path / "o") == []


def tamper(src: Path, dst: Path, **changes: object) -> Path:
    """Copy an ONNX model with its embedded metadata changed (skeleton, input size...)."""
    import onnx

    proto = onnx.load(str(src))
    prop = next(p for p in proto.metadata_props if p.key == "hgpose")
    meta = json.loads(prop.value)
    for key, value in changes.items():
        if key in meta:
            meta[key] = value
        else:
            meta["config"][key] = value
    prop.value = json.dumps(meta)
    onnx.save(proto, str(dst))
    return dst


def test_incompatible_models(short_clip: Path, bundled_model: Path, tmp_path: Path,
                             capsys: pytest.CaptureFixture) -> None:
    wrong_joints = tamper(bundled_model, tmp_path / "joints.onnx", skeleton="mpii16", num_joints=16)
    bad([str(short_clip), "--out", str(tmp_path / "o"), "--model", str(wrong_joints)], capsys,
        "does not match its metadata")
    wrong_size = tamper(bundled_model, tmp_path / "size.onnx", input_size=256)
    bad([str(short_clip), "--out", str(tmp_path / "o"), "--model", str(wrong_size)], capsys,
        "does not match metadata size")
    no_meta = tmp_path / "plain.onnx"
    import onnx

    proto = onnx.load(str(bundled_model))
    del proto.metadata_props[:]
    onnx.save(proto, str(no_meta))
    bad([str(short_clip), "--out", str(tmp_path / "o"), "--model", str(no_meta)], capsys, "no hgpose metadata")
    assert outputs(tmp_path / "o") == []


def test_unknown_backend(short_clip: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    bad([str(short_clip), "--out", str(tmp_path / "o"), "--backend", "cuda9000"], capsys, "unknown backend")


def test_unwritable_output_directory(short_clip: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where a directory should be")
    # A path below a regular file cannot be created, even by root (chmod would not stop root).
    bad([str(short_clip), "--out", str(blocker / "out")], capsys, "file is a file, not a folder")
    bad([str(short_clip), "--out", str(blocker)], capsys, "file is a file, not a folder")
    bad([str(short_clip), "--out", str(tmp_path / "poses.json")], capsys, "names a file, but it is the folder")
    assert not (tmp_path / "poses.json").exists()


def test_an_output_that_would_overwrite_the_input_is_refused(short_clip: Path, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture) -> None:
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(short_clip.read_bytes())
    before = clip.read_bytes()

    bad([str(clip), "--out", str(tmp_path), "--render"], capsys, "would overwrite the input")

    assert clip.read_bytes() == before and outputs(tmp_path) == ["clip.mp4"]
    # Without --render nothing of the input's name is written: that run is fine.
    assert annotate([str(clip), "--out", str(tmp_path), "--quiet"]) == 0
    assert clip.read_bytes() == before and outputs(tmp_path) == ["clip.csv", "clip.json", "clip.mp4"]


def test_ctrl_c_leaves_complete_so_far_files(bundled_clip: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "engine.cli", "annotate", str(bundled_clip), "--out",
                             str(tmp_path), "--render", "--quiet"], stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stderr is not None
    proc.stderr.readline()  # "hgpose annotate: <backend>": the model is loaded, frames are flowing
    time.sleep(2.0)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.count("interrupted") == 1 and "Traceback" not in err  # said once, with where the frames are
    assert "interrupted; the frames so far are in" in err
    doc = json.loads((tmp_path / "sports2d_walker_720p.json").read_text())
    n = len(doc["frames"])
    assert doc["complete"] is False and 0 < n < 401
    with open(tmp_path / "sports2d_walker_720p.csv", newline="") as fh:
        assert len(list(csv.DictReader(fh))) == n
    assert count_video_frames(tmp_path / "sports2d_walker_720p.mp4") == n
    # No temporary files are left behind.
    assert outputs(tmp_path) == ["sports2d_walker_720p.csv", "sports2d_walker_720p.json",
                                 "sports2d_walker_720p.mp4"]
    assert np.isfinite(np.array([f["keypoints"] for f in doc["frames"]], dtype=float)).all()


def test_an_output_name_held_by_a_folder_is_refused_before_any_work(short_clip: Path, tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture) -> None:
    from engine.errors import OutputError

    for name in ("short.mp4", "short.json"):  # a folder holds an output's name
        out = tmp_path / f"out-{name}"
        (out / name).mkdir(parents=True)
        code = annotate([str(short_clip), "--out", str(out), "--render", "--quiet"])
        err = capsys.readouterr().err
        assert code == OutputError.exit_code and "Traceback" not in err
        assert err.strip().splitlines()[-1].endswith(f"{name}: it is a directory")
        assert outputs(out) == [name]


def test_ctrl_c_over_a_complete_run_keeps_it_and_writes_the_partial_beside(bundled_clip: Path,
                                                                           tmp_path: Path) -> None:
    assert annotate([str(bundled_clip), "--out", str(tmp_path), "--quiet"]) == 0
    complete = {name: (tmp_path / name).read_bytes() for name in outputs(tmp_path)}
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "engine.cli", "annotate", str(bundled_clip), "--out",
                             str(tmp_path), "--quiet"], stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stderr is not None
    proc.stderr.readline()  # the model is loaded, frames are flowing
    time.sleep(1.5)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)

    assert proc.returncode == 130, err
    assert ("frames so far are in" in err and "sports2d_walker_720p.partial.json (the complete earlier run in "
            "sports2d_walker_720p.json is kept)" in err), err
    assert {name: (tmp_path / name).read_bytes() for name in complete} == complete
    partial = json.loads((tmp_path / "sports2d_walker_720p.partial.json").read_text())
    assert partial["complete"] is False and 0 < len(partial["frames"]) < 401
    with open(tmp_path / "sports2d_walker_720p.partial.csv", newline="") as fh:
        assert len(list(csv.DictReader(fh))) == len(partial["frames"])
    assert outputs(tmp_path) == sorted([*complete, "sports2d_walker_720p.partial.csv",
                                        "sports2d_walker_720p.partial.json"])


def test_truncated_video_is_named_and_recorded(truncated_clip: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture) -> None:
    # A faststart file cut at half its bytes: the container promises 40 frames, about half decode.
    decodable = count_video_frames(truncated_clip)
    assert 0 < decodable < 40
    assert annotate([str(truncated_clip), "--out", str(tmp_path), "--no-flip", "--quiet"]) == 0
    captured = capsys.readouterr()
    warnings = [line for line in captured.err.splitlines() if "warning" in line]
    assert warnings == [f"hgpose annotate: warning: {truncated_clip} decoded {decodable} of the 40 frames its "
                        'container reports (a cut or damaged file); the JSON says "truncated": true']
    doc = json.loads((tmp_path / "walker_cut.json").read_text())
    assert doc["complete"] is True and len(doc["frames"]) == decodable
    assert (doc["source"]["frame_count"], doc["source"]["frames_decoded"], doc["source"]["truncated"]) == \
        (40, decodable, True)
    assert f": {decodable} frames at" in captured.out


def test_a_whole_video_is_not_called_truncated(short_clip: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert annotate([str(short_clip), "--out", str(tmp_path), "--no-flip", "--quiet"]) == 0
    assert "warning" not in capsys.readouterr().err
    assert json.loads((tmp_path / "short.json").read_text())["source"]["truncated"] is False


def test_upright_reaches_the_tracker(short_clip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import engine.annotate

    seen: list[float] = []
    real = engine.annotate.annotate_source

    def spy(source, backend, out_dir, stem, options):  # type: ignore[no-untyped-def]
        seen.append(options.pipeline.tracker.upright)
        return real(source, backend, out_dir, stem, options)

    monkeypatch.setattr(engine.annotate, "annotate_source", spy)
    assert annotate([str(short_clip), "--out", str(tmp_path / "a"), "--quiet", "--upright", "35"]) == 0
    assert annotate([str(short_clip), "--out", str(tmp_path / "b"), "--quiet"]) == 0
    assert seen == [35.0, 30.0]  # the default turns crops of people leaning 30 degrees or more
    assert annotate([str(short_clip), "--out", str(tmp_path / "c"), "--upright", "200"]) == 6  # beyond 180


def test_the_sigterm_handler_is_put_back_after_a_run(short_clip: Path, tmp_path: Path) -> None:
    # A caller in the same process (a test runner, a script) keeps its own SIGTERM handling.
    def mine(signum: int, frame: object) -> None:
        raise AssertionError("not called")

    previous = signal.signal(signal.SIGTERM, mine)
    try:
        assert annotate([str(short_clip), "--out", str(tmp_path), "--quiet"]) == 0
        assert signal.getsignal(signal.SIGTERM) is mine
    finally:
        signal.signal(signal.SIGTERM, previous)
