"""Training augmentation: random scale, rotation, mirror with joint swap, colour jitter, and
synthetic occlusion.

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
    """

    scale: tuple[float, float] = (0.75, 1.25)
    rotation: float = 30.0
    rotation_prob: float = 0.6
    flip_prob: float = 0.5
    translate: float = 0.05
    colour: float = 0.2
    occlusion_prob: float = 0.0
    occlusion_size: tuple[float, float] = (0.15, 0.4)
    enabled: bool = True

    def __post_init__(self) -> None:
        lo, hi = self.occlusion_size
        if not (0.0 <= self.occlusion_prob <= 1.0 and 0.0 < lo <= hi <= 1.0):
            raise ConfigError(f"occlusion_prob must be in [0, 1] and occlusion_size (lo, hi) within (0, 1], "
                              f"got {self.occlusion_prob} and {self.occlusion_size}")


def augment(image: np.ndarray, joints: np.ndarray, person_size: float, out_size: int,
            flip_permutation: Sequence[int], config: AugmentConfig,
            rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Warp a pack crop to a random training view.

    Args:
        image: (P, P, 3) uint8 pack crop, person centred.
        joints: (K, 3) joints in pack pixels.
        person_size: side of the person box in pack pixels; at scale 1 it fills the output crop.

    Returns:
        (S, S, 3) uint8 crop and (K, 3) float32 joints in output pixels (labels unchanged, except
        swapped left/right on a mirror).
    """
    p = image.shape[0]
    cx = cy = (p - 1) / 2
    size, rotation = person_size, 0.0
    if config.enabled:
        size *= float(rng.uniform(*config.scale))
        if rng.random() < config.rotation_prob:
            rotation = float(rng.uniform(-config.rotation, config.rotation))
        cx += float(rng.uniform(-1, 1)) * config.translate * person_size
        cy += float(rng.uniform(-1, 1)) * config.translate * person_size
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
    return out, j


def occlude(image: np.ndarray, size: tuple[float, float], rng: np.random.Generator) -> np.ndarray:
    """A copy of the (S, S, 3) crop with one random rectangle (sides ``size`` fractions of S) covered
    by a rectangle of the same shape from elsewhere in it."""
    s = image.shape[0]
    h, w = (max(1, round(float(rng.uniform(*size)) * s)) for _ in range(2))
    y, x, sy, sx = (int(rng.integers(0, s - n + 1)) for n in (h, w, h, w))
    out = image.copy()
    out[y:y + h, x:x + w] = image[sy:sy + h, sx:sx + w]
    return out
