"""``hgpose prepare`` end to end: LSP-layout, COCO and MPII annotations into packs, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from train_synthetic import random_pose

from engine.crop import CropBox, apply_affine, crop_matrix, invert_affine
from engine.skeleton import COCO17, LSP14
from train.commands.prepare import main
from train.datasets.lsp import load_lsp
from train.pack import read_pack


def _back_to_image(pack_joints: np.ndarray, boxes: np.ndarray, info: dict) -> np.ndarray:
    """Pack-crop joints (N, K, 3) -> image pixels through each stored person box."""
    out = pack_joints[..., :2].astype(np.float64).copy()
    for i, (cx, cy, size, rot) in enumerate(boxes):
        box = CropBox(float(cx), float(cy), float(size) * info["context"], float(rot))
        out[i] = apply_affine(invert_affine(crop_matrix(box, info["pack_size"])), pack_joints[i, :, :2])
    return out


def test_prepare_lsp_folder(tmp_path: Path, lsp_folder, capsys: pytest.CaptureFixture[str]) -> None:
    root = lsp_folder(6)
    rc = main(["--dataset", "lspet", "--root", str(root), "--train", "1:4", "--val", "5:6",
               "--out", str(tmp_path / "packs"), "--pack-size", "64", "--workers", "2"])
    assert rc == 0
    train, val = read_pack(tmp_path / "packs" / "lspet-train.npz"), read_pack(tmp_path / "packs" / "lspet-val.npz")
    assert (len(train), len(val)) == (4, 2)
    assert train.images.shape == (4, 64, 64, 3) and train.info["skeleton"] == "lsp14"
    assert train.names == ("im00001.jpg", "im00002.jpg", "im00003.jpg", "im00004.jpg")
    truth = np.stack([s.joints for s in load_lsp(root, 1, 4)])
    np.testing.assert_allclose(_back_to_image(train.joints, train.boxes, train.info), truth[..., :2], atol=1e-3)
    assert "lspet-val.npz: 2 people" in capsys.readouterr().out
    # A range past the last image is refused, not packed short under the name of the range asked for.
    rc = main(["--dataset", "lspet", "--root", str(root), "--train", "1:4", "--val", "5:60",
               "--out", str(tmp_path / "short"), "--workers", "1"])
    err = capsys.readouterr().err
    assert rc == 6 and err == (f"hgpose prepare: error: image range 5:60 goes past the dataset's last image: "
                               f"{root} has 6 images (1:6)\n")
    assert not (tmp_path / "short").exists()


def _people_images(folder: Path, n: int) -> list[np.ndarray]:
    """Synthetic people (LSP14 joints in image pixels) saved as folder/pNNN.jpg."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(3)
    poses = []
    for i in range(n):
        cv2.imwrite(str(folder / f"p{i:03d}.jpg"), rng.integers(0, 255, (90, 80, 3), dtype=np.uint8))
        poses.append(random_pose(rng, (40.0, 45.0), 60.0))
    return poses


def _coco_json(path: Path, poses: list[np.ndarray]) -> None:
    images, annotations = [], []
    for i, pose in enumerate(poses):
        kp = np.zeros((17, 3))
        for name in LSP14.joints[:12]:  # the limb joints exist in both sets
            kp[COCO17.index(name)] = (*pose[LSP14.index(name), :2], 2)
        images.append({"id": i, "file_name": f"p{i:03d}.jpg"})
        annotations.append({"image_id": i, "category_id": 1, "iscrowd": 0, "bbox": [10, 10, 60, 70],
                            "keypoints": kp.ravel().tolist()})
    path.write_text(json.dumps({"images": images, "annotations": annotations}))


def test_prepare_coco_maps_to_lsp14_or_stays_native(tmp_path: Path) -> None:
    poses = _people_images(tmp_path / "images", 5)
    _coco_json(tmp_path / "train.json", poses[:3])
    _coco_json(tmp_path / "val.json", poses[3:])
    common = ["--dataset", "coco", "--annotations", str(tmp_path / "train.json"), "--images",
              str(tmp_path / "images"), "--val-annotations", str(tmp_path / "val.json"), "--pack-size", "48",
              "--workers", "1"]

    assert main([*common, "--out-dir", str(tmp_path / "lsp")]) == 0
    assert main([*common, "--out-dir", str(tmp_path / "native"), "--skeleton", "native"]) == 0

    mapped = read_pack(tmp_path / "lsp" / "coco-train.npz")
    native = read_pack(tmp_path / "native" / "coco-val.npz")
    assert (len(mapped), len(native)) == (3, 2)
    assert mapped.info["skeleton"] == "lsp14" and native.info["skeleton"] == "coco17"
    back = _back_to_image(mapped.joints, mapped.boxes, mapped.info)
    limbs = [LSP14.index(n) for n in LSP14.joints[:12]]
    np.testing.assert_allclose(back[:, limbs], np.stack(poses[:3])[:, limbs, :2], atol=1e-3)
    assert mapped.joints[:, LSP14.index("head top"), 2].tolist() == [0.0, 0.0, 0.0]
    assert (mapped.joints[:, LSP14.index("neck"), 2] == 1).all()


def test_prepare_mpii_json_holds_images_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    poses = _people_images(tmp_path / "images", 4)
    people = [{"image": f"p{i:03d}.jpg", "center": [41.0, 46.0], "scale": 0.3,
               "joints": [[10.0 + j, 20.0 + j] for j in range(16)], "joints_vis": [1] * 16}
              for i in range(len(poses))]
    (tmp_path / "train.json").write_text(json.dumps(people))

    rc = main(["--dataset", "mpii", "--annotations", str(tmp_path / "train.json"), "--images",
               str(tmp_path / "images"), "--val-fraction", "0.25", "--out-dir", str(tmp_path / "out"),
               "--skeleton", "native", "--pack-size", "32"])

    assert rc == 0
    train, val = read_pack(tmp_path / "out" / "mpii-train.npz"), read_pack(tmp_path / "out" / "mpii-val.npz")
    assert (len(train), len(val)) == (3, 1) and val.names == ("p003.jpg",)
    assert train.info["skeleton"] == "mpii16" and train.joints.shape == (3, 16, 3)


@pytest.mark.parametrize(("args", "message"), [
    (["--dataset", "lspet", "--root", "MISSING"], "does not exist"),
    (["--dataset", "coco", "--images", "."], "needs --annotations"),
    (["--dataset", "lspet", "--root", ".", "--train", "9:1"], "image range"),
    (["--dataset", "coco", "--annotations", "BAD", "--images", "."], "not valid JSON"),
    (["--dataset", "coco", "--annotations", "EMPTY", "--images", ".", "--skeleton", "mpii16"], "no joint mapping"),
])
def test_prepare_bad_input_is_one_line(args: list[str], message: str, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "BAD").write_text("{not json")
    (tmp_path / "EMPTY").write_text(json.dumps({"images": [], "annotations": []}))
    args = [str(tmp_path / a) if a.isupper() else (str(tmp_path) if a == "." else a) for a in args]

    rc = main([*args, "--out-dir", str(tmp_path / "out")])

    err = capsys.readouterr().err
    assert rc != 0
    assert err.startswith("hgpose prepare: error: ") and err.count("\n") == 1, err
    assert message in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("args", "words"), [
    (["--pack-size", "0"], "argument --pack-size: must be at least 16, got 0"),
    (["--context", "nan"], "argument --context: expected a positive number, got 'nan'"),
    (["--context", "-1"], "argument --context: must be positive, got -1"),
    (["--quality", "101"], "argument --quality: must be from 1 to 100, got 101"),
    (["--workers", "0"], "argument --workers: must be at least 1, got 0"),
    (["--val-fraction", "1"], "argument --val-fraction: must be between 0 and 1, got 1"),
    (["--min-joints", "0"], "argument --min-joints: must be at least 1, got 0"),
    (["--dataset", "nope"], "argument --dataset: invalid choice: 'nope'"),
])
def test_prepare_refuses_bad_option_values(args: list[str], words: str, refused, tmp_path: Path) -> None:
    code, err = refused(main, ["--root", str(tmp_path), *args, "--out", str(tmp_path / "out")])
    assert code == 6 and err.startswith(f"hgpose prepare: error: {words}")
    assert not (tmp_path / "out").exists()


def test_prepare_still_takes_out_dir(tmp_path: Path) -> None:
    from train.commands.prepare import build_parser

    assert build_parser().parse_args(["--out-dir", str(tmp_path)]).out == tmp_path
