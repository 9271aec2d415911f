"""Augmentation keeps joints on the pixels they label (through scale, rotation, shift and mirror),
mirroring swaps left/right labels, and heatmap targets peak on the joints with unlabelled ones masked."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

from engine.errors import ConfigError
from engine.skeleton import LSP14
from train.augment import AugmentConfig, augment, lighting
from train.targets import gaussian_heatmaps

PACK, OUT = 96, 64
PERM = LSP14.flip_permutation()


def _dot_image(x: float, y: float) -> np.ndarray:
    """A white Gaussian dot centred at sub-pixel (x, y) on black, (PACK, PACK, 3) uint8."""
    grid = np.arange(PACK, dtype=np.float64)
    dot = np.exp(-((grid[None, :] - x) ** 2 + (grid[:, None] - y) ** 2) / (2 * 1.5**2))
    return np.repeat((dot * 255).astype(np.uint8)[..., None], 3, axis=2)


def _peak(image: np.ndarray) -> np.ndarray:
    """Sub-pixel intensity centroid around the brightest pixel, (x, y)."""
    gray = image.astype(np.float64).sum(axis=2)
    gray = cv2.GaussianBlur(gray, (5, 5), 0)
    y, x = np.unravel_index(gray.argmax(), gray.shape)
    win = gray[y - 2:y + 3, x - 2:x + 3]
    ys, xs = np.mgrid[y - 2:y + 3, x - 2:x + 3]
    return np.array([(xs * win).sum(), (ys * win).sum()]) / win.sum()


@pytest.mark.parametrize("flip", [False, True])
@pytest.mark.parametrize("seed", range(4))
def test_augmented_joints_stay_on_their_pixels(seed: int, flip: bool) -> None:
    rng = np.random.default_rng(100 + seed)
    joints = np.column_stack([rng.uniform(0.35 * PACK, 0.65 * PACK, (14, 2)), np.ones(14)]).astype(np.float32)
    config = AugmentConfig(rotation_prob=1.0, flip_prob=1.0 if flip else 0.0)
    for k in (LSP14.index("R wrist"), LSP14.index("L ankle"), LSP14.index("head top")):
        # The same seed gives the same random view for each painted joint.
        out, warped = augment(_dot_image(*joints[k, :2]), joints, 64.0, OUT, PERM, config,
                              np.random.default_rng(seed))
        # After a mirror, the dot painted at joint k is the other side's joint: perm[k].
        label = PERM[k] if flip else k
        assert np.linalg.norm(_peak(out) - warped[label, :2]) < 0.6, (k, _peak(out), warped[label])
        assert out.shape == (OUT, OUT, 3) and warped[:, 2].tolist() == [1.0] * 14


def test_mirror_swaps_left_and_right_labels() -> None:
    joints = np.zeros((14, 3), np.float32)
    joints[:, 0] = np.arange(14) * 4 + 10  # distinct x per joint
    joints[:, 1] = 40
    joints[:, 2] = 1
    joints[LSP14.index("L knee"), 2] = 0  # a label that must travel with its joint
    config = AugmentConfig(scale=(1.0, 1.0), rotation_prob=0.0, translate=0.0, colour=0.0, flip_prob=1.0)
    image = np.zeros((OUT, OUT, 3), np.uint8)

    _, got = augment(image, joints, float(OUT), OUT, PERM, config, np.random.default_rng(0))

    for left, right in (("L wrist", "R wrist"), ("L knee", "R knee"), ("L shoulder", "R shoulder")):
        li, ri = LSP14.index(left), LSP14.index(right)
        # The new right joint is the old left one, mirrored about the image's centre column.
        assert got[ri, 0] == pytest.approx(OUT - 1 - joints[li, 0])
        assert got[li, 0] == pytest.approx(OUT - 1 - joints[ri, 0])
        assert (got[ri, 2], got[li, 2]) == (joints[li, 2], joints[ri, 2])
    head = LSP14.index("head top")
    assert got[head, 0] == pytest.approx(OUT - 1 - joints[head, 0])


def test_disabled_augmentation_is_the_plain_centred_crop() -> None:
    rng = np.random.default_rng(1)
    image = rng.integers(0, 255, (PACK, PACK, 3), dtype=np.uint8)
    joints = np.array([[47.5, 47.5, 1.0]] * 14, np.float32)
    out, got = augment(image, joints, 64.0, OUT, PERM, dataclasses.replace(AugmentConfig(), enabled=False), rng)
    assert got[0, :2].tolist() == pytest.approx([31.5, 31.5])  # crop centre maps to crop centre
    expected = cv2.resize(image[16:80, 16:80], (OUT, OUT), interpolation=cv2.INTER_LINEAR)
    assert np.abs(out.astype(int) - expected).max() <= 2


def test_heatmap_targets_peak_on_joints_and_mask_unlabelled() -> None:
    joints = np.array([[33.5, 17.5, 1.0],  # input pixel -> heatmap (8, 4) at stride 4
                       [10.0, 10.0, 0.0],  # unlabelled
                       [200.0, 5.0, 1.0]],  # labelled but off the map
                      np.float32)
    heat, weights = gaussian_heatmaps(joints, input_size=64, heatmap_size=16)

    assert heat.shape == (3, 16, 16) and heat.dtype == np.float32
    assert weights.tolist() == [1.0, 0.0, 0.0]
    assert np.unravel_index(heat[0].argmax(), (16, 16)) == (4, 8)
    assert heat[0, 4, 8] == pytest.approx(1.0)
    assert heat[0, 4, 9] == pytest.approx(np.exp(-0.5))  # sigma = 1 heatmap pixel by default
    assert not heat[1].any() and not heat[2].any()


def test_occlusion_covers_one_rectangle_with_another_part_of_the_crop() -> None:
    rng = np.random.default_rng(3)
    image = rng.integers(0, 255, (OUT, OUT, 3), dtype=np.uint8)
    joints = np.array([[31.5, 31.5, 1.0]] * 14, np.float32)
    plain = dataclasses.replace(AugmentConfig(), scale=(1.0, 1.0), rotation_prob=0.0, translate=0.0,
                                colour=0.0, flip_prob=0.0)
    base, base_joints = augment(image, joints, float(OUT), OUT, PERM, plain, np.random.default_rng(0))
    occluded = dataclasses.replace(plain, occlusion_prob=1.0, occlusion_size=(0.25, 0.25))
    for seed in range(5):
        out, got = augment(image, joints, float(OUT), OUT, PERM, occluded, np.random.default_rng(seed))
        np.testing.assert_array_equal(got, base_joints)  # the labels stay: the model must infer them
        changed = np.argwhere((out != base).any(axis=2))
        assert len(changed) > 0
        (y0, x0), (y1, x1) = changed.min(axis=0), changed.max(axis=0)
        assert y1 - y0 < 16 and x1 - x0 < 16  # one 16 x 16 rectangle (0.25 of 64) at most
        # Its content is a same-sized rectangle found elsewhere in the crop.
        patch = out[y0:y0 + 16, x0:x0 + 16] if y0 + 16 <= OUT and x0 + 16 <= OUT else None
        if patch is not None:
            hits = [(y, x) for y in range(OUT - 15) for x in range(OUT - 15)
                    if (y, x) != (y0, x0) and np.array_equal(base[y:y + 16, x:x + 16], patch)]
            assert hits, seed
    # Off by default: the recipes trained so far are unchanged.
    assert AugmentConfig().occlusion_prob == 0.0


def test_lighting_is_off_by_default_and_draws_nothing_from_the_generator() -> None:
    image = np.random.default_rng(1).integers(0, 255, (OUT, OUT, 3), dtype=np.uint8)
    rng = np.random.default_rng(7)
    before = rng.bit_generator.state
    assert lighting(image, AugmentConfig(), rng) is image
    assert rng.bit_generator.state == before  # so recipes trained before it reproduce exactly


def test_lighting_darkens_flattens_greys_and_blurs_without_moving_the_labels() -> None:
    rng = np.random.default_rng(2)
    # A bright figure on a mid-grey ground, with texture so blur has something to smooth.
    image = np.full((OUT, OUT, 3), 128, np.uint8)
    image[16:48, 24:40] = (230, 180, 90)
    image += rng.integers(0, 20, image.shape, dtype=np.uint8)
    joints = np.array([[31.5, 31.5, 1.0]] * 14, np.float32)
    plain = dataclasses.replace(AugmentConfig(), scale=(1.0, 1.0), rotation_prob=0.0, translate=0.0,
                                colour=0.0, flip_prob=0.0)
    base, base_joints = augment(image, joints, float(OUT), OUT, PERM, plain, np.random.default_rng(0))

    dark = dataclasses.replace(plain, gamma=0.7)
    means = []
    for seed in range(20):
        out, got = augment(image, joints, float(OUT), OUT, PERM, dark, np.random.default_rng(seed))
        np.testing.assert_array_equal(got, base_joints)
        # A gamma curve is monotonic: it relights the crop but never reorders its intensities.
        order = np.argsort(base[..., 0].ravel(), kind="stable")
        assert (np.diff(out[..., 0].ravel()[order].astype(int)) >= 0).all()
        means.append(float(out.mean()))
    assert min(means) < 0.7 * base.mean() and max(means) > 1.2 * base.mean()  # both the dark and bright ends

    flat = dataclasses.replace(plain, contrast=0.6)
    stds = [float(augment(image, joints, float(OUT), OUT, PERM, flat, np.random.default_rng(s))[0].std())
            for s in range(20)]
    assert min(stds) < 0.6 * base.std() and max(stds) > 1.2 * base.std()

    grey, _ = augment(image, joints, float(OUT), OUT, PERM, dataclasses.replace(plain, grey_prob=1.0),
                      np.random.default_rng(0))
    assert (grey[..., 0] == grey[..., 1]).all() and (grey[..., 1] == grey[..., 2]).all()

    blurred = dataclasses.replace(plain, blur_prob=1.0)
    for seed in range(6):  # motion and focus blur both smooth and keep the brightness
        out, _ = augment(image, joints, float(OUT), OUT, PERM, blurred, np.random.default_rng(seed))
        assert np.abs(np.diff(out.astype(int), axis=1)).mean() < np.abs(np.diff(base.astype(int), axis=1)).mean()
        assert abs(float(out.mean()) - float(base.mean())) < 2.0


@pytest.mark.parametrize("field, value", [("contrast", 1.0), ("gamma", -0.1), ("grey_prob", 1.5),
                                          ("blur_prob", -1.0)])
def test_lighting_refuses_out_of_range_settings(field: str, value: float) -> None:
    with pytest.raises(ConfigError, match=field):
        AugmentConfig(**{field: value})


def _standing_joints() -> np.ndarray:
    """An upright person in pack pixels (14, 3): head near the top of the crop, ankles near the bottom."""
    y = {"head top": 18, "neck": 26, "R shoulder": 28, "L shoulder": 28, "R elbow": 38, "L elbow": 38,
         "R wrist": 47, "L wrist": 47, "R hip": 50, "L hip": 50, "R knee": 63, "L knee": 63,
         "R ankle": 77, "L ankle": 77}
    joints = np.zeros((14, 3), np.float32)
    for i, name in enumerate(LSP14.joints):
        joints[i] = (48 + (-6 if name.startswith("R") else 6 if name.startswith("L") else 0), y[name], 1)
    return joints


def test_half_body_views_hold_one_half_of_the_body_zoomed_in() -> None:
    from train.data import body_halves

    halves = body_halves(LSP14.joints)
    assert halves is not None
    upper, lower = halves
    assert [LSP14.joints[i] for i in lower] == ["R ankle", "R knee", "R hip", "L hip", "L knee", "L ankle"]
    joints = _standing_joints()
    config = AugmentConfig(half_body_prob=1.0, rotation_prob=0.0, flip_prob=0.0, scale=(1.0, 1.0), translate=0.0)
    image = np.zeros((PACK, PACK, 3), np.uint8)
    seen_halves = set()
    for seed in range(8):
        _, plain = augment(image, joints, 64.0, OUT, PERM, dataclasses.replace(config, half_body_prob=0.0),
                           np.random.default_rng(seed))
        _, half = augment(image, joints, 64.0, OUT, PERM, config, np.random.default_rng(seed), halves)
        inside = ((half[:, :2] >= 0) & (half[:, :2] <= OUT - 1)).all(axis=1)
        # One half fills the view, larger than in the whole-body view; the other half is cut off.
        kept = [h for h in (upper, lower) if inside[h].all()]
        assert len(kept) == 1, (seed, inside)
        other = lower if kept[0] is upper else upper
        assert not inside[other].all()
        spread = np.ptp(half[kept[0], 1])
        assert spread > 1.3 * np.ptp(plain[kept[0], 1])
        seen_halves.add(tuple(kept[0]))
    assert len(seen_halves) == 2  # both halves are drawn


def test_half_body_views_are_off_by_default_and_need_three_labelled_joints() -> None:
    from train.data import body_halves

    halves = body_halves(LSP14.joints)
    joints = _standing_joints()
    image = np.random.default_rng(3).integers(0, 255, (PACK, PACK, 3), dtype=np.uint8)
    # Off (the default): the same view as without halves, and the same draws from the generator.
    a = augment(image, joints, 64.0, OUT, PERM, AugmentConfig(), np.random.default_rng(5), halves)
    b = augment(image, joints, 64.0, OUT, PERM, AugmentConfig(), np.random.default_rng(5))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    # A half with fewer than 3 labelled joints is not a view: the whole body is kept.
    config = AugmentConfig(half_body_prob=1.0, rotation_prob=0.0, flip_prob=0.0, scale=(1.0, 1.0), translate=0.0)
    sparse = joints.copy()
    sparse[:, 2] = 0
    sparse[[0, 13], 2] = 1  # one ankle and the head top
    _, out = augment(image, sparse, 64.0, OUT, PERM, config, np.random.default_rng(0), halves)
    _, whole = augment(image, sparse, 64.0, OUT, PERM, dataclasses.replace(config, half_body_prob=0.0),
                       np.random.default_rng(0))
    assert np.allclose(out[:, :2], whole[:, :2])
    with pytest.raises(ConfigError):
        AugmentConfig(half_body_prob=1.5)
