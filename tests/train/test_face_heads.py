"""Auxiliary face targets: MoveNet's nose, eyes and ears from the teacher file into the pack, into
augmented heatmaps beside the joints', and into training-only heads the saved model does not keep."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch
from train_synthetic import teacher_arrays, tiny_config

from engine.checkpoint import load_checkpoint, read_checkpoint
from engine.errors import ConfigError, InputError
from engine.metadata import Normalisation
from engine.skeleton import LSP14
from train.augment import AugmentConfig
from train.commands.prepare import main as prepare
from train.data import PackDataset
from train.pack import Pack, concat_packs, read_pack
from train.teachers import FACE_JOINTS, MOVENET_TO_LSP, face_targets, load_teachers
from train.trainer import train

PERM = list(LSP14.flip_permutation())
HEAD_TOP = LSP14.index("head top")
NOSE, L_EYE, R_EYE, L_EAR, R_EAR = range(5)
K = LSP14.num_joints


@pytest.fixture
def people() -> np.ndarray:
    """Four standing people facing the camera, all joints labelled (image pixels, 70 px tall)."""
    from train_synthetic import random_pose

    rng = np.random.default_rng(3)
    return np.stack([random_pose(rng, (60 + 50 * i, 50), 70.0) for i in range(4)])


def test_face_targets_are_movenets_face_where_its_body_is_the_labelled_person(tmp_path: Path,
                                                                              people: np.ndarray) -> None:
    arrays = teacher_arrays(people, score=0.8)
    face = arrays["movenet"][:, :5]
    face[:, :, :2] += np.arange(5)[None, :, None]  # five distinct points per face
    face[0, NOSE, 2] = 0.05  # a nose MoveNet barely sees (a back view): kept, as a low target
    arrays["movenet"][2, list(MOVENET_TO_LSP), 0] += 300  # MoveNet read somebody else for person 3
    path = tmp_path / "t.npz"
    np.savez(path, **arrays)
    labels = people.copy()
    labels[1] = labels[1][PERM]  # person 2 labelled mirrored: still the same person

    targets = face_targets(load_teachers(path), labels)

    assert targets.shape == (4, len(FACE_JOINTS), 3)
    np.testing.assert_allclose(targets[[0, 1, 3]], face[[0, 1, 3]])
    assert targets[0, NOSE, 2] == pytest.approx(0.05)
    assert (targets[2, :, 2] == -1).all()  # no face target for a person the teacher did not see


def test_prepare_packs_face_targets_in_crop_pixels(tmp_path: Path, lsp_folder: Callable[..., Path]) -> None:
    from train_synthetic import write_lsp_folder

    root = lsp_folder(4)
    truth = write_lsp_folder(root, 4)
    mat = scipy.io.loadmat(root / "joints.mat")["joints"]
    teachers = tmp_path / "t.npz"
    np.savez(teachers, **teacher_arrays(truth))  # faces at the head top
    common = ["--dataset", "lspet", "--root", str(root), "--train", "1:3", "--val", "4:4", "--pack-size", "96",
              "--workers", "1", "--teachers", str(teachers)]

    assert prepare([*common, "--out-dir", str(tmp_path / "p")]) == 0

    pack = read_pack(tmp_path / "p" / "lspet-train.npz")
    assert mat.shape[-1] == 4 and pack.face is not None and pack.face.shape == (3, 5, 3)
    for point in range(5):  # each face point lands on the head top, in the same crop pixels as the labels
        np.testing.assert_allclose(pack.face[:, point, :2], pack.joints[:, HEAD_TOP, :2], atol=0.05)
    np.testing.assert_allclose(pack.face[..., 2], 0.9)
    assert read_pack(tmp_path / "p" / "lspet-val.npz").face is None


def _with_faces(pack: Pack) -> Pack:
    """The pack with face targets: the nose at the head top, the eyes and ears beside it on the
    image's left and right as a person facing the camera has them (their left eye on the image right)."""
    face = np.repeat(pack.joints[:, [HEAD_TOP]], 5, axis=1)
    face[:, :, 0] += np.array([0, 6, -6, 12, -12])
    face[:, :, 2] = 0.8
    face[1] = (0.0, 0.0, -1.0)  # the second person has none
    return replace(pack, face=face)


def test_face_channels_follow_the_joints_and_swap_sides_on_a_mirror(
        packs: Callable[..., tuple[Path, Path]]) -> None:
    pack = _with_faces(read_pack(packs(2)[0]))
    still = AugmentConfig(flip_prob=0.0, rotation_prob=0.0, scale=(1.0, 1.0), translate=0.0)
    plain = PackDataset(pack, 64, 16, still, Normalisation(), face_weight=0.5)
    mirrored = PackDataset(pack, 64, 16, replace(still, flip_prob=1.0), Normalisation(), face_weight=0.5)

    _, target, weights, _ = plain[0]
    _, target_m, _, _ = mirrored[0]

    assert target.shape == (K + 5, 16, 16)
    np.testing.assert_allclose(weights[K:].numpy(), 0.5)
    peaks = target[K:].amax(dim=(1, 2)).numpy()  # as high as the score (less off the grid's nodes)
    assert ((peaks > 0.7) & (peaks <= 0.8 + 1e-6)).all(), peaks

    def column(heatmap: torch.Tensor) -> int:
        return int(heatmap.amax(dim=0).argmax())

    # Mirrored: the person's left eye is now on the image's left, where the right eye was seen.
    for a, b in ((L_EYE, R_EYE), (L_EAR, R_EAR), (NOSE, NOSE)):
        assert abs(column(target_m[K + a]) - (15 - column(target[K + b]))) <= 1, (a, b)
    assert column(target[K + L_EYE]) > column(target[K + R_EYE])
    # A person without face targets: zero weight on the face channels, nothing to learn there.
    _, target_none, weights_none, _ = plain[1]
    assert (weights_none[K:] == 0).all() and (target_none[K:] == 0).all()
    # With distillation the face channels sit in the labels' set only.
    teacher = replace(pack, teacher=pack.joints.copy())
    _, target_d, weights_d, _ = PackDataset(teacher, 64, 16, still, Normalisation(), distill_weight=1.0,
                                            face_weight=0.5)[0]
    assert target_d.shape == (2, K + 5, 16, 16)
    assert (weights_d[0, K:] == 0.5).all() and (weights_d[1, K:] == 0).all()
    torch.testing.assert_close(target_d[0], target)


def test_packs_without_face_targets_mix_in_as_none(packs: Callable[..., tuple[Path, Path]]) -> None:
    a = _with_faces(read_pack(packs(2)[0]))
    b = read_pack(packs(3)[0])

    both = concat_packs([a, b], ["a", "b"])

    assert both.face is not None and both.face.shape == (5, 5, 3)
    assert (both.face[2:, :, 2] == -1).all()
    np.testing.assert_array_equal(both.face[:2], a.face)


def test_a_pack_with_malformed_face_targets_is_refused(tmp_path: Path, packs: Callable[..., tuple[Path, Path]]) -> None:
    path = packs(2)[0]
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["face"] = np.zeros((2, 4, 3), np.float32)
    np.savez(tmp_path / "bad.npz", **arrays)

    with pytest.raises(InputError, match=r"face targets \(2, 4, 3\) are not \(2, 5, 3\)"):
        read_pack(tmp_path / "bad.npz")


def _face_pack(tmp_path: Path, packs: Callable[..., tuple[Path, Path]], n: int) -> Path:
    """A copy of an ``n``-people pack with face targets (:func:`_with_faces`)."""
    path = packs(n)[0]
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["face"] = _with_faces(read_pack(path)).face
    out = tmp_path / f"face{n}.npz"
    np.savez(out, **arrays)
    return out


def test_face_heads_train_resume_exactly_and_stay_out_of_the_model_file(
        tmp_path: Path, packs: Callable[..., tuple[Path, Path]]) -> None:
    pack = _face_pack(tmp_path, packs, 8)
    common = {"optim": {"epochs": 2, "batch_size": 2}, "data": {"face_weight": 1.0}}
    straight: list[tuple[int, float]] = []
    best = train(tiny_config(tmp_path / "a", pack, pack, **common), progress=False,
                 on_step=lambda s, v: straight.append((s, v)))
    resumed: list[tuple[int, float]] = []
    for max_steps in (3, 0):  # stopped mid-epoch: the face heads must come back with last.pt
        train(tiny_config(tmp_path / "b", pack, pack, max_steps=max_steps, **common), progress=False,
              on_step=lambda s, v: resumed.append((s, v)))
    plain: list[tuple[int, float]] = []
    train(tiny_config(tmp_path / "c", pack, pack, optim=common["optim"]), progress=False,
          on_step=lambda s, v: plain.append((s, v)))

    assert resumed == straight
    assert [v for _, v in plain] != [v for _, v in straight]  # the face loss is part of the loss
    last = read_checkpoint(tmp_path / "a" / "last.pt")
    assert last["face_heads"]["0.weight"].shape == (5, 32, 1, 1)
    model, meta = load_checkpoint(best)  # a plain network: K heatmaps, no face heads in its weights
    assert meta.config.num_joints == K and not any("face" in key for key in model.state_dict())
    assert model(torch.zeros(1, 3, 64, 64))[-1].shape == (1, K, 16, 16)


def test_face_weight_needs_a_pack_with_face_targets(tmp_path: Path, packs: Callable[..., tuple[Path, Path]]) -> None:
    train_pack, val_pack = packs(4)

    with pytest.raises(ConfigError, match="holds no face targets"):
        train(tiny_config(tmp_path / "r", train_pack, val_pack, data={"face_weight": 1.0}), progress=False)
    with pytest.raises(ConfigError, match="face_weight must be a finite 0 or more"):
        tiny_config(tmp_path / "r", train_pack, val_pack, data={"face_weight": -1.0})
