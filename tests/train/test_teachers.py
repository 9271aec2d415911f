"""Teacher keypoints: loading and checking the file, label cleaning, distillation targets, and
`hgpose prepare --teachers` end to end on a tiny LSP folder with a known mirrored person."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch
from train_synthetic import teacher_arrays

from engine.errors import InputError
from engine.metadata import Normalisation
from engine.skeleton import LSP14
from train.augment import AugmentConfig
from train.commands.prepare import main as prepare
from train.data import PackDataset
from train.label_cleaning import find_mirrored, fix_joints, mirrored_joints, swap_mirrored
from train.metrics import mirrored_people
from train.pack import read_pack
from train.teachers import BLAZEPOSE_TO_LSP, MOVENET_TO_LSP, SHARED_INDEX, distillation_keypoints, load_teachers
from train.trainer import heatmap_loss

PERM = list(LSP14.flip_permutation())
LEGS = [LSP14.index(n) for n in ("R ankle", "R knee", "R hip", "L hip", "L knee", "L ankle")]


def write_teachers(path: Path, joints: np.ndarray, **kwargs: float) -> Path:
    np.savez_compressed(path, **teacher_arrays(joints, **kwargs))
    return path


@pytest.fixture
def people() -> np.ndarray:
    """Four standing people facing the camera, all joints labelled (image pixels, 70 px tall)."""
    from train_synthetic import random_pose

    rng = np.random.default_rng(3)
    return np.stack([random_pose(rng, (60 + 5 * i, 50), 70.0) for i in range(4)])


def test_teacher_file_maps_to_lsp_and_leaves_neck_and_head_unset(tmp_path: Path, people: np.ndarray) -> None:
    t = load_teachers(write_teachers(tmp_path / "t.npz", people))

    assert t.movenet.shape == t.blazepose.shape == (4, 14, 3)
    np.testing.assert_allclose(t.movenet[:, :12, :2], people[:, :12, :2], atol=1e-4)
    np.testing.assert_allclose(t.blazepose[:, :12, :2], people[:, :12, :2], atol=1e-4)
    assert np.isnan(t.movenet[:, 12:, :2]).all() and (t.movenet[:, 12:, 2] == 0).all()
    assert t.select(["im00003.jpg", "im00001.jpg"]).names == ("im00003.jpg", "im00001.jpg")
    np.testing.assert_array_equal(t.select(["im00003.jpg"]).movenet[0], t.movenet[2])


@pytest.mark.parametrize(("change", "message"), [
    ("missing file", "does not exist"),
    ("not an npz", "is not a teacher file"),
    ("a video", "is not a teacher file"),
    ("an npy array", "is not a teacher file"),
    ("empty file", "is not a teacher file"),
    ("not a zip", "is not a teacher file"),
    ("object arrays", "is not a teacher file"),
    ("damaged member", "is a damaged teacher file (BadZipFile)"),
    ("no blazepose", "has no blazepose array"),
    ("wrong shape", "movenet has shape (4, 16, 3), expected (4, 17, 3)"),
    ("other names", "no keypoints for 4 of 4 images"),
])
def test_bad_teacher_files_are_refused_in_one_line(tmp_path: Path, people: np.ndarray, change: str,
                                                   message: str) -> None:
    path = tmp_path / "t.npz"
    arrays = teacher_arrays(people)
    if change == "not an npz":
        path.write_text("hello")
    elif change == "a video":  # numpy takes any unknown file for a pickle
        path = tmp_path / "walk.mp4"
        path.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)
    elif change == "an npy array":
        np.save(tmp_path / "t.npy", np.zeros(3))
        path = tmp_path / "t.npy"
    elif change == "empty file":
        path.write_bytes(b"")
    elif change == "not a zip":  # a zip's signature, then nothing of one
        path.write_bytes(b"PK\x03\x04" + bytes(64))
    elif change == "object arrays":
        arrays["names"] = np.array([f"im{i + 1:05d}.jpg" for i in range(4)], dtype=object)
    elif change == "damaged member":
        np.savez(path, **arrays)
        data = bytearray(path.read_bytes())
        middle = len(data) // 2  # inside an array's data: its CRC no longer matches
        data[middle:middle + 8] = bytes(8)
        path.write_bytes(bytes(data))
    elif change == "no blazepose":
        del arrays["blazepose"]
    elif change == "wrong shape":
        arrays["movenet"] = arrays["movenet"][:, :16]
    elif change == "other names":
        arrays["names"] = np.array([f"other{i}.jpg" for i in range(4)])
    if change in ("object arrays", "no blazepose", "wrong shape", "other names"):
        np.savez(path, **arrays)

    with pytest.raises(InputError) as err:
        load_teachers(path).select([f"im{i + 1:05d}.jpg" for i in range(4)])

    assert message in str(err.value) and "\n" not in str(err.value)
    # numpy's own text for a file it cannot read advises loading it with allow_pickle: never passed on.
    assert "pickle" not in str(err.value)
    if message == "is not a teacher file":
        assert str(err.value) == f"{path} is not a teacher file (an .npz with movenet, blazepose and names)"


def test_mirrored_labels_are_found_per_group_and_swapped_back(tmp_path: Path, people: np.ndarray) -> None:
    labels = people.copy()
    labels[1] = people[1, PERM]  # the whole person mirrored
    labels[2, LEGS] = people[2, PERM][LEGS]  # only the legs
    labels[3] = people[3, PERM]  # mirrored, but the teachers disagree on this one (below)
    arrays = teacher_arrays(people, jitter=1.0)
    arrays["blazepose"][3, list(BLAZEPOSE_TO_LSP)] = arrays["blazepose"][3, list(BLAZEPOSE_TO_LSP)][PERM[:12]]
    np.savez(tmp_path / "t.npz", **arrays)
    teachers = load_teachers(tmp_path / "t.npz")

    found = find_mirrored(labels, teachers.movenet, teachers.blazepose)

    np.testing.assert_array_equal(found.mirrored, [[False, False], [True, True], [False, True], [False, False]])
    assert found.summary() == "2 of 4 people mirrored by the labels (1 whole, 0 arms only, 1 legs only)"
    cleaned = swap_mirrored(labels, found)
    np.testing.assert_array_equal(cleaned[:3], people[:3])
    np.testing.assert_array_equal(cleaned[3], labels[3])  # left alone: no agreement to act on


def test_single_clicks_both_teachers_contradict_are_moved_onto_them(tmp_path: Path, people: np.ndarray) -> None:
    torso = np.linalg.norm(people[:, LSP14.index("L shoulder"), :2] - people[:, LSP14.index("R hip"), :2], axis=1)
    labels = people.copy()
    rw, lk, rh = LSP14.index("R wrist"), LSP14.index("L knee"), LSP14.index("R hip")
    labels[0, rw, 0] += 0.5 * torso[0]  # a stray click: moved back
    labels[1, lk, 1] += 0.1 * torso[1]  # a small offset (under 0.2 torso): left alone
    labels[2, rh, 0] += 0.5 * torso[2]  # a hip: the teachers define hips differently, left alone
    labels[3, rw, 0] += 0.5 * torso[3]  # ... but unlabelled: nothing to fix
    labels[3, rw, 2] = 0
    labels[1, rw, 0] += 0.5 * torso[1]  # the teachers disagree with each other here (below)
    arrays = teacher_arrays(people)
    arrays["blazepose"][1, BLAZEPOSE_TO_LSP[rw], 0] += 0.3 * torso[1]
    np.savez(tmp_path / "t.npz", **arrays)
    teachers = load_teachers(tmp_path / "t.npz")

    fixed, moved = fix_joints(labels, teachers.movenet, teachers.blazepose)

    assert [tuple(ix) for ix in np.argwhere(moved)] == [(0, rw)]
    np.testing.assert_allclose(fixed[0, rw, :2], people[0, rw, :2], atol=1e-4)  # the teachers are the truth here
    mask = np.ones(labels.shape[:2], dtype=bool)
    mask[0, rw] = False
    np.testing.assert_array_equal(fixed[mask], labels[mask])


def test_fixing_leaves_mirrored_groups_that_were_not_swapped(tmp_path: Path, people: np.ndarray) -> None:
    labels = people.copy()
    labels[1] = people[1, PERM]  # mirrored: with --clean off its joints must stay mirrored
    np.savez(tmp_path / "t.npz", **teacher_arrays(people))
    teachers = load_teachers(tmp_path / "t.npz")
    found = find_mirrored(labels, teachers.movenet, teachers.blazepose)
    _, moved = fix_joints(labels, teachers.movenet, teachers.blazepose)
    assert moved[1].any()  # unprotected, the mirrored arms and legs would be moved one by one
    _, moved = fix_joints(labels, teachers.movenet, teachers.blazepose, keep=mirrored_joints(found))
    assert not moved.any()


def test_distillation_targets_are_movenet_on_the_shared_joints_only(tmp_path: Path, people: np.ndarray) -> None:
    path = tmp_path / "t.npz"
    arrays = teacher_arrays(people, score=0.8)
    arrays["movenet"][0, MOVENET_TO_LSP[LSP14.index("L wrist")], 2] = 0.1  # a guess: below min_score
    np.savez(path, **arrays)

    targets = distillation_keypoints(load_teachers(path), min_score=0.3)

    weighted = {LSP14.joints[j] for j in np.flatnonzero(targets[1, :, 2] > 0)}
    assert weighted == {LSP14.joints[j] for j in SHARED_INDEX}
    assert not weighted & {"R hip", "L hip", "neck", "head top"}
    np.testing.assert_allclose(targets[1, list(SHARED_INDEX), 2], 0.8)
    assert targets[0, LSP14.index("L wrist"), 2] == 0
    np.testing.assert_allclose(targets[1, list(SHARED_INDEX), :2], people[1, list(SHARED_INDEX), :2], atol=1e-4)


def test_prepare_with_teachers_swaps_the_mirrored_person_and_packs_targets(
        tmp_path: Path, lsp_folder: Callable[..., Path], capsys: pytest.CaptureFixture[str]) -> None:
    from train_synthetic import write_lsp_folder

    root = lsp_folder(4)
    truth = write_lsp_folder(root, 4)  # the same people again; returns their joints
    mat = scipy.io.loadmat(root / "joints.mat")["joints"]  # (14, 3, N)
    mat[:, :, 1] = mat[PERM, :, 1]  # im00002's labels mirrored
    scipy.io.savemat(str(root / "joints.mat"), {"joints": mat})
    teachers = write_teachers(tmp_path / "t.npz", truth)
    plain_dir, clean_dir = tmp_path / "plain", tmp_path / "clean"
    common = ["--dataset", "lspet", "--root", str(root), "--train", "1:3", "--val", "4:4", "--pack-size", "96",
              "--workers", "1"]

    assert prepare([*common, "--out-dir", str(plain_dir)]) == 0
    assert prepare([*common, "--out-dir", str(clean_dir), "--teachers", str(teachers)]) == 0

    assert "1 of 3 people mirrored by the labels (1 whole" in capsys.readouterr().out
    plain, clean = read_pack(plain_dir / "lspet-train.npz"), read_pack(clean_dir / "lspet-train.npz")
    assert clean.info["mirrored"] == ["im00002.jpg"] and clean.info["label_cleaning"] == "swap"
    assert plain.teacher is None and clean.teacher is not None and clean.teacher.shape == (3, 14, 3)
    np.testing.assert_allclose(clean.joints[1], plain.joints[1][PERM], atol=1e-4)
    np.testing.assert_array_equal(clean.joints[[0, 2]], plain.joints[[0, 2]])
    # The teacher (the truth here) lands on the cleaned labels, in the same crop pixels.
    shared = list(SHARED_INDEX)
    np.testing.assert_allclose(clean.teacher[:, shared, :2], clean.joints[:, shared, :2], atol=0.05)
    assert read_pack(clean_dir / "lspet-val.npz").teacher is None  # validation stays as labelled
    assert clean.info["joints_fixed"] is None  # not asked for
    # --fix-joints: one stray click (im00003's L wrist, 40 px off) goes back onto the teachers (the truth).
    mat[LSP14.index("L wrist"), 0, 2] += 40
    scipy.io.savemat(str(root / "joints.mat"), {"joints": mat})
    assert prepare([*common, "--out", str(tmp_path / "fixed"), "--teachers", str(teachers), "--fix-joints"]) == 0
    assert "joint fixing: 1 labels moved onto the teachers" in capsys.readouterr().out
    fixed = read_pack(tmp_path / "fixed" / "lspet-train.npz")
    assert fixed.info["joints_fixed"] == 1
    np.testing.assert_allclose(fixed.joints[:2], clean.joints[:2], atol=1e-4)
    lw = LSP14.index("L wrist")  # the stray click's crop is placed afresh; in it the label sits on the truth
    np.testing.assert_allclose(fixed.joints[2, lw, :2], fixed.teacher[2, lw, :2], atol=0.05)
    assert prepare([*common, "--out", str(tmp_path / "x"), "--fix-joints"]) == 6  # needs --teachers


def test_prepare_refuses_a_bad_teacher_file_before_packing(tmp_path: Path, lsp_folder: Callable[..., Path],
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.npz"
    bad.write_text("not an npz")

    rc = prepare(["--dataset", "lspet", "--root", str(lsp_folder(2)), "--train", "1:1", "--val", "2:2",
                  "--teachers", str(bad), "--out-dir", str(tmp_path / "out")])

    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("hgpose prepare: error: ") and err.count("\n") == 1, err
    assert not (tmp_path / "out").exists()


def test_distillation_dataset_adds_the_teacher_set_and_flips_it_with_the_labels(
        packs: Callable[..., tuple[Path, Path]]) -> None:
    from dataclasses import replace

    pack = read_pack(packs(2)[0])
    teacher = pack.joints.copy()
    teacher[..., 2] = 0.0
    teacher[:, list(SHARED_INDEX), 2] = 0.5
    pack = replace(pack, teacher=teacher)
    ds = PackDataset(pack, 64, 16, AugmentConfig(flip_prob=1.0, rotation_prob=0.0), Normalisation(),
                     distill_weight=2.0)

    _, target, weights, _ = ds[0]

    assert target.shape == (2, 14, 16, 16) and weights.shape == (2, 14)
    np.testing.assert_allclose(weights[1].numpy(), np.where(np.isin(range(14), SHARED_INDEX), 1.0, 0.0))
    # The teacher equals the labels here, so after the (mirroring) augmentation both sets still agree.
    shared = list(SHARED_INDEX)
    torch.testing.assert_close(target[1, shared], target[0, shared])
    plain = PackDataset(replace(pack, teacher=None), 64, 16, AugmentConfig(flip_prob=1.0, rotation_prob=0.0),
                        Normalisation(), distill_weight=2.0)
    assert plain[0][1].shape == (14, 16, 16)  # no teacher in the pack: the plain targets


def test_heatmap_loss_adds_the_weighted_teacher_set() -> None:
    g = torch.Generator().manual_seed(0)
    out = [torch.rand(2, 3, 4, 4, generator=g) for _ in range(2)]
    labels, teacher = torch.rand(2, 3, 4, 4, generator=g), torch.rand(2, 3, 4, 4, generator=g)
    w_l, w_t = torch.tensor([[1.0, 0.0, 1.0]] * 2), torch.tensor([[0.5, 0.5, 0.0]] * 2)

    plain = heatmap_loss(out, labels, w_l)
    both = heatmap_loss(out, torch.stack([labels, teacher], 1), torch.stack([w_l, w_t], 1))

    expected = sum(((o - labels) ** 2 * w_l[..., None, None]).mean() for o in out)
    torch.testing.assert_close(plain, expected)
    torch.testing.assert_close(both, plain + heatmap_loss(out, teacher, w_t))


def test_mirrored_people_counts_swapped_predictions_where_left_and_right_are_apart(people: np.ndarray) -> None:
    side_view = people[:1].copy()
    # Seen from the side, left and right lie on top of each other: no mirror can show, not eligible.
    side_view[0, :12, 0] = (people[0, :12, 0] + people[0, PERM[:12], 0]) / 2
    truth = np.concatenate([people, side_view])
    pred = truth.copy()
    pred[[1, 2]] = truth[[1, 2]][:, PERM]

    res = mirrored_people(pred, truth, LSP14)

    assert (res.mirrored, res.eligible) == (2, 4)
    assert mirrored_people(truth, truth, LSP14).mirrored == 0
