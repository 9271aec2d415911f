"""Facing from the teacher's shoulders (front, back, unclear), kept by every augmentation, and the
back-view loss weight it drives."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from train_synthetic import random_pose

from engine.metadata import Normalisation
from engine.skeleton import LSP14
from train.augment import AugmentConfig, augment
from train.data import PackDataset
from train.facing import BACK, FRONT, UNCLEAR, agreed_facing, facing, facing_score
from train.pack import read_pack
from train.teachers import SHARED_INDEX

PERM = list(LSP14.flip_permutation())
SHOULDERS = [LSP14.index("R shoulder"), LSP14.index("L shoulder")]
HIPS = [LSP14.index("R hip"), LSP14.index("L hip")]


def _teacher(labels: np.ndarray) -> np.ndarray:
    """The teacher as the training pack holds it: the shared joints only, weight 0.8."""
    t = np.zeros_like(labels)
    t[:, list(SHARED_INDEX)] = labels[:, list(SHARED_INDEX)]
    t[:, list(SHARED_INDEX), 2] = 0.8
    return t


def _rotate(points: np.ndarray, degrees: float, centre: tuple[float, float] = (50.0, 50.0)) -> np.ndarray:
    """Joints (..., 3) turned by ``degrees`` about ``centre`` (image pixels), labels kept."""
    a = np.deg2rad(degrees)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    out = points.copy()
    out[..., :2] = (points[..., :2] - centre) @ rot.T + centre
    return out


@pytest.fixture
def front() -> np.ndarray:
    """Three standing people facing the camera (their right on the image's left), image pixels."""
    rng = np.random.default_rng(0)
    return np.stack([random_pose(rng, (50.0, 50.0), 70.0) for _ in range(3)])


def _back_view(people: np.ndarray) -> np.ndarray:
    """The same people seen from behind: each joint's position is taken by its partner's."""
    return people[:, PERM]


def test_front_and_back_views_in_any_rotation(front: np.ndarray) -> None:
    back = _back_view(front)
    for degrees in (0.0, 45.0, 90.0, 180.0, -120.0):
        f, b = _rotate(front, degrees), _rotate(back, degrees)
        assert (facing(f, _teacher(f)) == FRONT).all(), degrees
        assert (facing(b, _teacher(b)) == BACK).all(), degrees
    assert (facing_score(front, _teacher(front)) < -0.7).all()  # square on: shoulders ~0.9 torso apart


def test_the_labels_left_and_right_do_not_decide_only_their_hips_midpoint(front: np.ndarray) -> None:
    # Mirrored labels (the crowd's usual mistake) leave the answer to the teacher's shoulders.
    assert (facing(front[:, PERM], _teacher(front)) == FRONT).all()


def test_side_on_missing_shoulder_or_no_down_direction_is_unclear(front: np.ndarray) -> None:
    side = front.copy()
    mid = side[:, SHOULDERS, 0].mean(axis=1, keepdims=True)
    side[:, SHOULDERS, 0] = mid + np.array([-3.0, 3.0])  # 6 px apart across a 27 px torso: turned about 75°
    assert (facing(side, _teacher(side)) == UNCLEAR).all()

    one_shoulder = _teacher(front)
    one_shoulder[0, SHOULDERS[1], 2] = 0.0
    assert facing(front, one_shoulder)[0] == UNCLEAR and facing(front, one_shoulder)[1] == FRONT

    no_hips, teacher = front.copy(), _teacher(front)
    no_hips[:, HIPS, 2] = 0.0
    # The teacher's knees give the down direction, and its length scaled to a torso's: the score
    # stays close to the one the hips give (the template's hips are 0.6 of the way to the knees).
    np.testing.assert_allclose(facing_score(no_hips, teacher), facing_score(front, teacher), rtol=0.2)
    teacher[:, [LSP14.index("R knee"), LSP14.index("L knee")], 2] = 0.0
    assert (facing(no_hips, teacher) == UNCLEAR).all()

    bowing = front.copy()  # torso pointing at the camera: 4 px from shoulders to hips
    bowing[:, HIPS, :2] = bowing[:, SHOULDERS, :2].mean(axis=1, keepdims=True) + np.array([0.0, 4.0])
    assert (facing(bowing, _teacher(bowing)) == UNCLEAR).all()


def test_every_augmented_view_keeps_the_facing(front: np.ndarray) -> None:
    config = AugmentConfig(flip_prob=0.5, rotation_prob=1.0)
    image = np.zeros((100, 100, 3), np.uint8)
    rng = np.random.default_rng(1)
    for people, expected in ((front, FRONT), (_back_view(front), BACK)):
        for person in people:
            # The labels and the teacher ride together, as in PackDataset.
            both = np.concatenate([person, _teacher(person[None])[0]])
            perm = (*PERM, *(14 + p for p in PERM))
            for _ in range(8):
                _, joints = augment(image, both, 70.0, 64, perm, config, rng)
                assert facing(joints[None, :14], joints[None, 14:])[0] == expected


def test_back_view_weight_scales_both_loss_weights_of_back_views_only(
        packs: Callable[..., tuple[Path, Path]]) -> None:
    pack = read_pack(packs(2)[0])  # two stick figures facing the camera
    joints = pack.joints.copy()
    joints[1] = joints[1, PERM]  # ... the second seen from behind (the image is not changed: the
    # weights, not the pixels, are under test)
    pack = replace(pack, joints=joints, teacher=_teacher(joints))
    aug = AugmentConfig(enabled=False)

    assert list(facing(pack.joints, pack.teacher)) == [FRONT, BACK]
    for distill in (1.0, 0.0):  # labels and teacher (2, K), or the labels alone (K,)
        plain = PackDataset(pack, 64, 16, aug, Normalisation(), distill_weight=distill)
        weighted = PackDataset(pack, 64, 16, aug, Normalisation(), distill_weight=distill, back_view_weight=3.0)
        assert weighted[1][2].shape == ((2, 14) if distill else (14,))
        np.testing.assert_array_equal(weighted[0][2].numpy(), plain[0][2].numpy())
        np.testing.assert_allclose(weighted[1][2].numpy(), 3.0 * plain[1][2].numpy())
        assert plain[1][2].numpy().sum() > 0
    no_teacher = PackDataset(replace(pack, teacher=None), 64, 16, aug, Normalisation(), back_view_weight=3.0)
    assert no_teacher[1][2].numpy().max() == 1.0  # nothing to tell a back view by: unweighted


def test_agreed_facing_needs_both_teachers_to_see_the_same_way(front: np.ndarray) -> None:
    back = _back_view(front)
    movenet, blazepose = front.copy(), front.copy()
    blazepose[0] = back[0]  # BlazePose calls person 1 a back view
    movenet[1, SHOULDERS, 2] = 0.2  # MoveNet is unsure of person 2's shoulders (below its 0.3)
    blazepose[2] = np.nan  # BlazePose found nobody in image 3

    assert list(agreed_facing(front, movenet, blazepose)) == [UNCLEAR, UNCLEAR, UNCLEAR]
    assert list(agreed_facing(front, front, front)) == [FRONT] * 3
    assert list(agreed_facing(front, back, back)) == [BACK] * 3
