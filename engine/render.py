"""Skeleton overlays drawn with OpenCV onto BGR frames (used by annotate and recordings)."""

from __future__ import annotations

import cv2
import numpy as np

from engine.crop import CropBox
from engine.skeleton import Skeleton

# Amber (BGR): visible on light walls and dark floors alike, and unlike any limb colour.
ROI_COLOUR = (0, 191, 255)


def _shade(colour: tuple[int, int, int], confidence: float) -> tuple[int, int, int]:
    """Blend toward grey as confidence drops, so shaky joints look shaky."""
    t = float(np.clip(confidence, 0.0, 1.0))
    return tuple(round(c * t + 128 * (1 - t)) for c in colour)  # type: ignore[return-value]


def draw_pose(image: np.ndarray, keypoints: np.ndarray, skeleton: Skeleton, threshold: float = 0.3,
              box: CropBox | None = None, thickness: int | None = None) -> np.ndarray:
    """Draw limbs (coloured by side) and joints (shaded by confidence) in place; returns ``image``.

    Joints below ``threshold`` and limbs touching them are hidden. ``keypoints`` is (K, 3) in the
    image's pixels.
    """
    h, w = image.shape[:2]
    t = thickness or max(2, round(min(h, w) / 240))
    shift = 4  # sub-pixel drawing: coordinates are fixed-point with 4 fractional bits
    pts = np.round(keypoints[:, :2] * (1 << shift)).astype(np.int64)
    ok = keypoints[:, 2] >= threshold
    for a, b in skeleton.limbs:
        if ok[a] and ok[b]:
            conf = float(min(keypoints[a, 2], keypoints[b, 2]))
            cv2.line(image, tuple(int(v) for v in pts[a]), tuple(int(v) for v in pts[b]),
                     _shade(skeleton.limb_colour((a, b)), conf), t, cv2.LINE_AA, shift)
    for i in np.flatnonzero(ok):
        cv2.circle(image, tuple(int(v) for v in pts[i]), (t + 2) << shift,
                   _shade(skeleton.joint_colour(int(i)), float(keypoints[i, 2])), -1, cv2.LINE_AA, shift)
    if box is not None:
        x0, y0, x1, y1 = (round(v) for v in box.xyxy)
        cv2.rectangle(image, (x0, y0), (x1, y1), ROI_COLOUR, max(1, t // 2), cv2.LINE_AA)
    return image


def even_size(width: int, height: int) -> tuple[int, int]:
    """The video size for frames of ``width`` x ``height``: each rounded up to an even number.

    MPEG-4 and H.264 store colour at half resolution (4:2:0), so they encode only even sizes, and
    OpenCV's writer silently drops an odd last column or row (641x361 became 640x360).
    """
    return width + width % 2, height + height % 2


def pad_to_even(image: np.ndarray) -> np.ndarray:
    """``image`` (H, W, 3) with a black column on the right and/or a row at the bottom to make both
    sides even; pixel coordinates are unchanged, so keypoints still land where they were drawn."""
    h, w = image.shape[:2]
    if w % 2 == 0 and h % 2 == 0:
        return image
    return cv2.copyMakeBorder(image, 0, h % 2, 0, w % 2, cv2.BORDER_CONSTANT, value=(0, 0, 0))
