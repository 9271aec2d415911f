"""Training augmentation: random scale, rotation, mirror with joint swap, colour jitter, synthetic
occlusion, and the lighting and blur of video (contrast, gamma, grey, motion blur).

Works on pack crops (P, P, 3) and their joints (K, 3) in crop pixels, producing the network input
crop (S, S, 3) and joints in input pixels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from engine.crop import CropBox, apply_affine, crop_matrix
from engine.errors import ConfigError


@dataclass(frozen=True)
class AugmentConfig:
    """Ranges of the random transforms (the paper's: scale 0.75-1.25, rotation +-30 degrees).

    ``occlusion_prob``: the chance that a rectangle of the output crop (each side a random fraction
    in ``occlusion_size`` of the crop) is covered by another part of the same crop, labels kept.
    Sports photos hide limbs behind other people, equipment and the body itself; a model that has
    only seen what the labels point at answers from texture where it should answer from the body's
    layout (Sarandi et al., 2018, used object cut-outs the same way). The patch comes from the same
    photo, so its colours and sharpness give nothing away. 0 turns it off.

    ``contrast``, ``gamma``, ``grey_prob``, ``blur_prob``: what video does to a person and sports
    photos rarely do. A walker against the sun is a dark, flat silhouette; a webcam's frame is
    smeared along the motion. The contrast about the crop's mean is scaled by a factor in
    [1 - contrast, 1 + contrast]; intensities (0-1) are raised to ``exp(u)``, u uniform in
    [-gamma, gamma] (gamma 0.7: exponents 0.5-2, the dark and the washed-out ends); ``grey_prob``
    drops the colour (night-mode and old cameras); ``blur_prob`` smears the crop with a line kernel
    3-9 px long at a random angle (motion) or, half the time, a Gaussian (focus). All 0: off, so
    older recipes reproduce exactly.

    ``half_body_prob``: the chance that the view is cut around the upper or the lower half of the
    body alone (the labelled joints of one half, at least 3, their box's longer side times 1.5;
    Wang et al.'s HRNet, 2019): the tracker's crops often hold a partial person (entering at a
    frame edge, or a crop that lost the legs), which the person-centred training crops never show.
    The joints left outside the view drop out of the loss, as any joint outside a crop. 0: off.
    """

    scale: tuple[float, float] = (0.75, 1.25)
    rotation: float = 30.0
    rotation_prob: float = 0.6
    flip_prob: float = 0.5
    translate: float = 0.05
    colour: float = 0.2
    occlusion_prob: float = 0.0
    occlusion_size: tuple[float, float] = (0.15, 0.4)
    contrast: float = 0.0
    gamma: float = 0.0
    grey_prob: float = 0.0
    blur_prob: float = 0.0
    half_body_prob: float = 0.0
    enabled: bool = True

    def __post_init__(self) -> None:
        lo, hi = self.occlusion_size
        if not 0.0 <= self.half_body_prob <= 1.0:
            raise ConfigError(f"half_body_prob must be in [0, 1], got {self.half_body_prob}")
        if not (0.0 <= self.occlusion_prob <= 1.0 and 0.0 < lo <= hi <= 1.0):
            raise ConfigError(f"occlusion_prob must be in [0, 1] and occlusion_size (lo, hi) within (0, 1], "
                              f"got {self.occlusion_prob} and {self.occlusion_size}")
        if not (0.0 <= self.contrast < 1.0 and 0.0 <= self.gamma <= 2.0
                and 0.0 <= self.grey_prob <= 1.0 and 0.0 <= self.blur_prob <= 1.0):
            raise ConfigError(f"contrast must be in [0, 1), gamma in [0, 2], grey_prob and blur_prob in "
                              f"[0, 1], got {self.contrast}, {self.gamma}, {self.grey_prob}, "
                              f"{self.blur_prob}")


def augment(image: np.ndarray, joints: np.ndarray, person_size: float, out_size: int,
            flip_permutation: Sequence[int], config: AugmentConfig,
            rng: np.random.Generator, halves: tuple[Sequence[int], Sequence[int]] | None = None,
            ) -> tuple[np.ndarray, np.ndarray]:
    """Warp a pack crop to a random training view.

    Args:
        image: (P, P, 3) uint8 pack crop, person centred.
        joints: (K, 3) joints in pack pixels.
        person_size: side of the person box in pack pixels; at scale 1 it fills the output crop.
        halves: indices of the upper-body and the lower-body joints in ``joints``, for
            ``config.half_body_prob`` (None: no half-body views).

    Returns:
        (S, S, 3) uint8 crop and (K, 3) float32 joints in output pixels (labels unchanged, except
        swapped left/right on a mirror).
    """
    p = image.shape[0]
    cx = cy = (p - 1) / 2
    size, rotation = person_size, 0.0
    if config.enabled and halves is not None and config.half_body_prob > 0 \
            and rng.random() < config.half_body_prob:
        half = np.asarray(halves[int(rng.integers(2))])
        seen = joints[half][joints[half, 2] > 0, :2]
        if len(seen) >= 3:
            (x0, y0), (x1, y1) = seen.min(axis=0), seen.max(axis=0)
            cx, cy = float(x0 + x1) / 2, float(y0 + y1) / 2
            size = float(np.clip(1.5 * max(x1 - x0, y1 - y0), 0.3 * person_size, person_size))
    if config.enabled:
        base = size
        size *= float(rng.uniform(*config.scale))
        if rng.random() < config.rotation_prob:
            rotation = float(rng.uniform(-config.rotation, config.rotation))
        cx += float(rng.uniform(-1, 1)) * config.translate * base
        cy += float(rng.uniform(-1, 1)) * config.translate * base
    m = crop_matrix(CropBox(cx, cy, size, rotation), out_size)
    out = cv2.warpAffine(image, m, (out_size, out_size), flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    j = joints.astype(np.float32, copy=True)
    j[:, :2] = apply_affine(m, joints[:, :2])
    if config.enabled and rng.random() < config.flip_prob:
        out = np.ascontiguousarray(out[:, ::-1])
        j[:, 0] = out_size - 1 - j[:, 0]  # mirror about the centre line of pixel centres
        j = j[list(flip_permutation)]
    if config.enabled and config.occlusion_prob > 0 and rng.random() < config.occlusion_prob:
        out = occlude(out, config.occlusion_size, rng)
    if config.enabled and config.colour > 0:
        gains = rng.uniform(1 - config.colour, 1 + config.colour, size=3).astype(np.float32)
        out = np.clip(out.astype(np.float32) * gains, 0, 255).astype(np.uint8)
    if config.enabled:
        out = lighting(out, config, rng)
    return out, j


def lighting(image: np.ndarray, config: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    """The (S, S, 3) uint8 BGR crop under a random contrast, gamma, colour loss and blur (see
    :class:`AugmentConfig`); the geometry, and so the labels, are untouched."""
    out = image
    if config.contrast > 0:
        factor = float(rng.uniform(1 - config.contrast, 1 + config.contrast))
        mean = float(out.mean())
        out = np.clip((out.astype(np.float32) - mean) * factor + mean, 0, 255).astype(np.uint8)
    if config.gamma > 0:
        exponent = float(np.exp(rng.uniform(-config.gamma, config.gamma)))
        table = np.round(255.0 * (np.arange(256) / 255.0) ** exponent).astype(np.uint8)
        out = cv2.LUT(out, table)
    if config.grey_prob > 0 and rng.random() < config.grey_prob:
        out = cv2.cvtColor(cv2.cvtColor(out, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)  # pack crops are BGR
    if config.blur_prob > 0 and rng.random() < config.blur_prob:
        out = blur(out, rng)
    return out


def blur(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The (S, S, 3) crop smeared along a random line 3-9 px long (motion), or by a Gaussian of
    sigma 0.6-1.5 px (focus), half the time each."""
    if rng.random() < 0.5:
        return cv2.GaussianBlur(image, (0, 0), float(rng.uniform(0.6, 1.5)))
    length = int(rng.integers(3, 10))
    line = np.zeros((length, length), np.float32)
    line[length // 2, :] = 1.0 / length
    rotation = cv2.getRotationMatrix2D(((length - 1) / 2, (length - 1) / 2), float(rng.uniform(0, 180)), 1.0)
    kernel = cv2.warpAffine(line, rotation, (length, length))
    # The rotated line loses a little weight to interpolation: renormalised, the blur keeps brightness.
    kernel = np.asarray(kernel, np.float32) / np.float32(max(float(kernel.sum()), 1e-6))
    return cv2.filter2D(image, -1, kernel, borderType=cv2.BORDER_REFLECT)


def occlude(image: np.ndarray, size: tuple[float, float], rng: np.random.Generator) -> np.ndarray:
    """A copy of the (S, S, 3) crop with one random rectangle (sides ``size`` fractions of S) covered
    by a rectangle of the same shape from elsewhere in it."""
    s = image.shape[0]
    h, w = (max(1, round(float(rng.uniform(*size)) * s)) for _ in range(2))
    y, x, sy, sx = (int(rng.integers(0, s - n + 1)) for n in (h, w, h, w))
    out = image.copy()
    out[y:y + h, x:x + w] = image[sy:sy + h, sx:sx + w]
    return out
