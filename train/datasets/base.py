"""The common sample record every dataset loader produces."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.crop import CropBox
from engine.errors import ConfigError


@dataclass(frozen=True)
class PoseSample:
    """One annotated person.

    Attributes:
        image_path: the image file.
        joints: (K, 3) float32 in image pixels: x, y, and 1 where the joint is labelled (0: unlabelled).
        box: the person crop (centre and side in image pixels).
        teacher: optional (K, 3) float32 soft target in image pixels (a teacher model's keypoints,
            :func:`train.teachers.distillation_keypoints`), third column its weight (0: none).
        face: optional (5, 3) float32 auxiliary face targets in image pixels
            (:func:`train.teachers.face_targets`): x, y, height; -1 heights where there is none.
    """

    image_path: Path
    joints: np.ndarray
    box: CropBox
    teacher: np.ndarray | None = None
    face: np.ndarray | None = None


# Padding of the joints' bounding box that makes the single-person crop (standard protocol).
PERSON_BOX_PADDING = 1.25


def person_box(joints: np.ndarray, padding: float = PERSON_BOX_PADDING) -> CropBox:
    """Square crop around the labelled joints (K, 3), the longer side scaled by ``padding``."""
    vis = joints[:, 2] > 0
    pts = joints[vis, :2] if vis.any() else joints[:, :2]
    x0, y0 = pts.min(axis=0)
    x1, y1 = pts.max(axis=0)
    return CropBox.from_xyxy(float(x0), float(y0), float(x1), float(y1), padding=padding)


def hold_out(samples: Sequence[PoseSample], fraction: float) -> tuple[list[PoseSample], list[PoseSample]]:
    """Split into (train, validation) by image, the last ``fraction`` of the images (in file order)
    going to validation, so that no image lends people to both sides."""
    if not 0.0 < fraction < 1.0:
        raise ConfigError(f"validation fraction must be between 0 and 1, got {fraction}")
    order = list(dict.fromkeys(s.image_path for s in samples))
    n_val = math.ceil(len(order) * fraction) if len(order) > 1 else 0
    val_images = set(order[len(order) - n_val:]) if n_val else set()
    return ([s for s in samples if s.image_path not in val_images],
            [s for s in samples if s.image_path in val_images])
