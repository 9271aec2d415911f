"""Dataset loaders on tiny fixtures written in the test: LSP/LSPET .mat (both layouts), MPII .mat and
JSON (both styles), COCO JSON, and the joint mappings to LSP14."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from engine.errors import ConfigError, InputError
from engine.skeleton import COCO17, LSP14, MPII16
from train.datasets.base import hold_out
from train.datasets.coco import load_coco
from train.datasets.lsp import load_lsp, load_lsp_joints
from train.datasets.mapping import COCO17_TO_LSP14, MPII16_TO_LSP14, convert_samples
from train.datasets.mpii import load_mpii, load_mpii_json, load_mpii_mat

# ------------------------------------------------------------------------------------- LSP / LSPET


def test_lspet_layout_marks_invisible_joints_unlabelled(tmp_path: Path) -> None:
    joints = np.arange(2 * 14 * 3, dtype=np.float64).reshape(2, 14, 3)  # (N, K, 3)
    joints[..., 2] = 1.0
    joints[1, 5, 2] = 0.0
    scipy.io.savemat(str(tmp_path / "joints.mat"), {"joints": joints.transpose(1, 2, 0)})  # (14, 3, N)

    got = load_lsp_joints(tmp_path / "joints.mat")

    assert got.shape == (2, 14, 3) and got.dtype == np.float32
    np.testing.assert_array_equal(got[0], joints[0])
    assert got[1, 5].tolist() == [0.0, 0.0, 0.0]  # unlabelled: coordinates cleared
    np.testing.assert_array_equal(got[1, 4], joints[1, 4])


def test_lsp_layout_labels_every_joint_whatever_the_occlusion_flag(tmp_path: Path) -> None:
    joints = np.random.default_rng(0).uniform(0, 100, (3, 14, 2))  # (3, 14, N)
    joints[2] = np.array([0.0, 1.0] * 7)[:, None]  # LSP's third row flags occlusion, not labelling
    scipy.io.savemat(str(tmp_path / "joints.mat"), {"joints": joints})

    got = load_lsp_joints(tmp_path / "joints.mat")

    np.testing.assert_allclose(got[..., :2], joints[:2].transpose(2, 1, 0), rtol=1e-6)
    assert (got[..., 2] == 1).all()


def test_load_lsp_reads_images_and_boxes(lsp_folder) -> None:
    root = lsp_folder(3, layout="lsp")
    samples = load_lsp(root, 2, 3)
    assert [s.image_path.name for s in samples] == ["im00002.jpg", "im00003.jpg"]
    for s in samples:
        lo, hi = s.joints[:, :2].min(axis=0), s.joints[:, :2].max(axis=0)
        assert s.box.size == pytest.approx(1.25 * max(hi - lo))
        assert (s.box.cx, s.box.cy) == pytest.approx(tuple((lo + hi) / 2))


@pytest.mark.parametrize("shape", [(14, 2, 5), (5, 14, 3, 1)])
def test_lsp_rejects_other_shapes(tmp_path: Path, shape: tuple[int, ...]) -> None:
    scipy.io.savemat(str(tmp_path / "joints.mat"), {"joints": np.zeros(shape)})
    with pytest.raises(InputError, match="joints"):
        load_lsp_joints(tmp_path / "joints.mat")


def test_lsp_corrupt_mat_is_an_input_error(tmp_path: Path) -> None:
    (tmp_path / "joints.mat").write_bytes(b"not a mat file at all" * 20)
    with pytest.raises(InputError, match="cannot read"):
        load_lsp_joints(tmp_path / "joints.mat")


@pytest.mark.shared
def test_lspet_release_loads(shared_dir: Path) -> None:
    joints = load_lsp_joints(shared_dir / "datasets" / "lspet" / "joints.mat")
    assert joints.shape == (10000, 14, 3)
    assert 0.8 < joints[..., 2].mean() < 0.95  # about 88 % of the joints are visible


# -------------------------------------------------------------------------------------------- MPII


def _struct_array(records: list[dict], fields: list[str]) -> np.ndarray:
    """A MATLAB 1xN struct array for scipy.io.savemat; missing fields become []."""
    arr = np.zeros((1, len(records)), dtype=[(f, object) for f in fields])
    for i, record in enumerate(records):
        for f in fields:
            arr[0, i][f] = record.get(f, np.zeros((0, 0)))
    return arr


def _points(points: list[tuple[int, float, float, object]]) -> np.ndarray:
    return _struct_array([{"id": i, "x": x, "y": y, "is_visible": v} for i, x, y, v in points],
                         ["id", "x", "y", "is_visible"])


def test_mpii_release_mat(tmp_path: Path) -> None:
    """The official structure, with its quirks: empty is_visible, string flags, people without
    joints, a lone struct where squeeze_me drops the array, and test images (img_train = 0)."""
    rect = ["scale", "objpos", "annopoints"]
    person = {"scale": 1.5, "objpos": {"x": 51.0, "y": 61.0},
              "annopoints": {"point": _points([(0, 11.0, 21.0, 1), (9, 31.0, 6.0, np.zeros((0, 0))),
                                               (15, 41.0, 7.0, "0")])}}
    no_joints = {"scale": 1.0, "objpos": {"x": 5.0, "y": 5.0}}
    lone = {"scale": 2.0, "objpos": {"x": 6.0, "y": 7.0}, "annopoints": {"point": _points([(3, 2.0, 3.0, "1")])}}
    annolist = _struct_array([
        {"image": {"name": "a.jpg"}, "annorect": _struct_array([person, no_joints], rect)},
        {"image": {"name": "b.jpg"}, "annorect": _struct_array([lone], rect)},
        {"image": {"name": "test.jpg"}, "annorect": _struct_array([lone], rect)},
    ], ["image", "annorect"])
    scipy.io.savemat(str(tmp_path / "mpii.mat"), {"RELEASE": {"annolist": annolist,
                                                              "img_train": np.array([[1, 1, 0]])}})

    samples = load_mpii(tmp_path / "mpii.mat", tmp_path / "images")

    assert [s.image_path for s in samples] == [tmp_path / "images" / "a.jpg", tmp_path / "images" / "b.jpg"]
    a = samples[0]
    assert a.joints.shape == (MPII16.num_joints, 3)
    labelled = {i: tuple(a.joints[i]) for i in np.flatnonzero(a.joints[:, 2])}
    assert labelled == {0: (10.0, 20.0, 1.0), 9: (30.0, 5.0, 1.0), 15: (40.0, 6.0, 1.0)}  # 1-based -> 0-based
    assert (a.box.cx, a.box.cy, a.box.size) == pytest.approx((50.0, 60.0 + 15 * 1.5, 250 * 1.5))
    assert samples[1].joints[3].tolist() == [1.0, 2.0, 1.0]


def test_mpii_mat_without_release_is_an_input_error(tmp_path: Path) -> None:
    scipy.io.savemat(str(tmp_path / "x.mat"), {"joints": np.zeros((3, 14, 1))})
    with pytest.raises(InputError, match="RELEASE"):
        load_mpii_mat(tmp_path / "x.mat", tmp_path)


def _mpii_people() -> list[tuple[str, list[float], float, list[list[float]]]]:
    joints = [[10.0 + i, 20.0 + 2 * i] for i in range(16)]
    joints[4] = [-1.0, -1.0]  # not annotated
    return [("x.jpg", [100.0, 120.0], 2.0, joints), ("y.jpg", [-1.0, -1.0], 1.0, joints)]


def test_mpii_json_train_json_style(tmp_path: Path) -> None:
    people = [{"image": name, "center": centre, "scale": scale, "joints": joints,
               "joints_vis": [0 if j[0] < 0 else 1 for j in joints]} for name, centre, scale, joints in _mpii_people()]
    (tmp_path / "train.json").write_text(json.dumps(people))

    samples = load_mpii(tmp_path / "train.json", tmp_path / "img")

    assert len(samples) == 1  # the second person has no position (centre -1): skipped
    s = samples[0]
    assert s.image_path == tmp_path / "img" / "x.jpg"
    assert s.joints[0].tolist() == [9.0, 19.0, 1.0]
    assert s.joints[4].tolist() == [0.0, 0.0, 0.0]
    assert (s.box.cx, s.box.cy, s.box.size) == pytest.approx((99.0, 119.0 + 30.0, 500.0))


def test_mpii_json_annotations_style_with_validation_flags(tmp_path: Path) -> None:
    people = [{"img_paths": name, "objpos": [100.0 + k, 120.0], "scale_provided": scale,
               "joint_self": [[x, y, 1.0] for x, y in joints], "isValidation": float(k)}
              for k, (name, _, scale, joints) in enumerate(_mpii_people()[:1] * 2)]
    (tmp_path / "mpii_annotations.json").write_text(json.dumps(people))

    every = load_mpii_json(tmp_path / "mpii_annotations.json", tmp_path)
    val = load_mpii_json(tmp_path / "mpii_annotations.json", tmp_path, validation=True)
    train = load_mpii_json(tmp_path / "mpii_annotations.json", tmp_path, validation=False)

    assert len(every) == 2 and len(val) == 1 and len(train) == 1
    assert val[0].box.cx == pytest.approx(100.0) and train[0].box.cx == pytest.approx(99.0)
    assert every[0].joints[4, 2] == 0.0  # (-1, -1) is "not annotated" whatever the flag says


def test_mpii_json_without_flags_cannot_be_split(tmp_path: Path) -> None:
    name, centre, scale, joints = _mpii_people()[0]
    person = {"image": name, "center": centre, "scale": scale, "joints": joints}
    (tmp_path / "train.json").write_text(json.dumps([person]))
    assert len(load_mpii_json(tmp_path / "train.json", tmp_path)) == 1
    with pytest.raises(ConfigError, match="isValidation"):
        load_mpii_json(tmp_path / "train.json", tmp_path, validation=True)
    (tmp_path / "bad.json").write_text(json.dumps([{"image": "a.jpg"}]))
    with pytest.raises(InputError, match="person 0"):
        load_mpii_json(tmp_path / "bad.json", tmp_path)


# -------------------------------------------------------------------------------------------- COCO


def _coco_file(path: Path) -> None:
    kp = np.zeros((17, 3))
    kp[:, 0], kp[:, 1], kp[:, 2] = np.arange(17) * 3.0, np.arange(17) * 2.0 + 50, 2
    kp[1] = (0, 0, 0)  # L eye not labelled
    kp[6, 2] = 1  # R shoulder labelled but occluded
    sparse = np.zeros((17, 3))
    sparse[0] = (5, 5, 2)
    data = {"images": [{"id": 7, "file_name": "000007.jpg"}, {"id": 9, "file_name": "000009.jpg"}],
            "categories": [{"id": 1, "name": "person"}],
            "annotations": [
                {"image_id": 7, "category_id": 1, "iscrowd": 0, "bbox": [10, 40, 60, 100],
                 "keypoints": kp.ravel().tolist(), "num_keypoints": 16},
                {"image_id": 9, "category_id": 1, "iscrowd": 1, "bbox": [0, 0, 9, 9],
                 "keypoints": kp.ravel().tolist()},  # a crowd region: skipped
                {"image_id": 9, "category_id": 1, "iscrowd": 0, "bbox": [0, 0, 9, 9],
                 "keypoints": sparse.ravel().tolist()},  # one joint only
                {"image_id": 9, "category_id": 1, "iscrowd": 0, "bbox": [0, 0, 9, 9]},  # no keypoints
            ]}
    path.write_text(json.dumps(data))


def test_coco_keypoints(tmp_path: Path) -> None:
    _coco_file(tmp_path / "person_keypoints.json")

    samples = load_coco(tmp_path / "person_keypoints.json", tmp_path / "imgs")
    fewer = load_coco(tmp_path / "person_keypoints.json", tmp_path / "imgs", min_joints=2)

    assert [s.image_path.name for s in samples] == ["000007.jpg", "000009.jpg"]
    assert len(fewer) == 1
    s = samples[0]
    assert s.joints.shape == (COCO17.num_joints, 3)
    assert s.joints[1].tolist() == [0.0, 0.0, 0.0]
    assert s.joints[6].tolist() == [18.0, 62.0, 1.0]  # occluded but labelled
    assert (s.box.cx, s.box.cy, s.box.size) == pytest.approx((39.5, 89.5, 125.0))


def test_coco_malformed_is_an_input_error(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text(json.dumps({"images": [], "annotations": [{"image_id": 1, "bbox": [0, 0, 1, 1],
                                                                              "keypoints": [1] * 51}]}))
    with pytest.raises(InputError, match="malformed"):
        load_coco(tmp_path / "a.json", tmp_path)
    (tmp_path / "b.json").write_text("{")
    with pytest.raises(InputError, match="not valid JSON"):
        load_coco(tmp_path / "b.json", tmp_path)


# ----------------------------------------------------------------------------------------- mapping


def test_mpii_to_lsp_maps_limbs_and_head() -> None:
    src = np.zeros((16, 3), np.float32)
    for i in range(MPII16.num_joints):
        src[i] = (i, 100 + i, 1)
    got = MPII16_TO_LSP14.apply(src)
    for name in LSP14.joints:
        source_name = "upper neck" if name == "neck" else name
        assert got[LSP14.index(name)].tolist() == src[MPII16.index(source_name)].tolist(), name


def test_coco_to_lsp_neck_is_the_shoulder_midpoint_and_head_top_is_unlabelled() -> None:
    src = np.zeros((17, 3), np.float32)
    for i in range(17):
        src[i] = (10 * i, 5 * i, 1)
    got = COCO17_TO_LSP14.apply(src)
    assert got[LSP14.index("L wrist")].tolist() == src[COCO17.index("L wrist")].tolist()
    assert got[LSP14.index("R ankle")].tolist() == src[COCO17.index("R ankle")].tolist()
    l_sh, r_sh = src[COCO17.index("L shoulder"), :2], src[COCO17.index("R shoulder"), :2]
    assert got[LSP14.index("neck"), :2].tolist() == ((l_sh + r_sh) / 2).tolist()
    assert got[LSP14.index("head top")].tolist() == [0.0, 0.0, 0.0]
    src[COCO17.index("R shoulder"), 2] = 0  # one shoulder missing: no neck either
    assert COCO17_TO_LSP14.apply(src)[LSP14.index("neck"), 2] == 0.0


def test_convert_samples_drops_people_left_without_joints(tmp_path: Path) -> None:
    _coco_file(tmp_path / "k.json")
    samples = load_coco(tmp_path / "k.json", tmp_path)  # the second one has only a nose
    converted = convert_samples(samples, "coco17", "lsp14")
    assert len(converted) == 1 and converted[0].joints.shape == (14, 3)
    assert converted[0].box == samples[0].box
    with pytest.raises(ConfigError, match="no joint mapping"):
        convert_samples(samples, "lsp14", "coco17")


def test_hold_out_splits_by_image(tmp_path: Path) -> None:
    _coco_file(tmp_path / "k.json")
    samples = load_coco(tmp_path / "k.json", tmp_path) * 2
    train, val = hold_out(samples, 0.5)
    assert {s.image_path.name for s in val} == {"000009.jpg"}
    assert {s.image_path.name for s in train} == {"000007.jpg"}
    assert len(train) + len(val) == len(samples)
