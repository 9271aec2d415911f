"""Affine crops from (centre, size, rotation) and their exact inverse.

Coordinate frame: pixel centres sit on integer coordinates, so pixel (0, 0) covers
[-0.5, 0.5] x [-0.5, 0.5]. A crop of side ``size`` frame pixels centred on (cx, cy) maps the
continuous square [cx - size/2, cx + size/2] onto the model input's [-0.5, S - 0.5]. Rotation is
in degrees, counter-clockwise in the image (the crop is rotated so that content turned by
``rotation`` appears upright).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from engine.metadata import MAX_STRETCH_GAIN, Normalisation


@dataclass(frozen=True)
class CropBox:
    """A square region of a frame, in frame pixels: centre, side length and rotation (degrees)."""

    cx: float
    cy: float
    size: float
    rotation: float = 0.0

    @property
    def xyxy(self) -> tuple[float, float, float, float]:
        """Axis-aligned (x0, y0, x1, y1) of the unrotated square."""
        h = self.size / 2
        return (self.cx - h, self.cy - h, self.cx + h, self.cy + h)

    @classmethod
    def from_xyxy(cls, x0: float, y0: float, x1: float, y1: float, padding: float = 1.0) -> CropBox:
        """Square box around an axis-aligned box, its longer side scaled by ``padding``."""
        return cls((x0 + x1) / 2, (y0 + y1) / 2, max(x1 - x0, y1 - y0, 1.0) * padding)


def crop_matrix(box: CropBox, out_size: int) -> np.ndarray:
    """2x3 float64 matrix mapping frame (x, y) to crop (u, v), crop side ``out_size`` pixels."""
    s = out_size / box.size
    a = math.radians(box.rotation)
    cos, sin = math.cos(a) * s, math.sin(a) * s
    c = (out_size - 1) / 2  # crop centre: the middle of [-0.5, out_size - 0.5]
    # u = s * R(-a) (p - centre) + c, with y pointing down in images.
    return np.array(
        [[cos, -sin, c - cos * box.cx + sin * box.cy],
         [sin, cos, c - sin * box.cx - cos * box.cy]],
        dtype=np.float64,
    )


def invert_affine(matrix: np.ndarray) -> np.ndarray:
    """Exact inverse of a 2x3 affine matrix (float64)."""
    a = np.vstack([np.asarray(matrix, dtype=np.float64), [0.0, 0.0, 1.0]])
    return np.linalg.inv(a)[:2]


def apply_affine(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Map points (..., 2) through a 2x3 affine matrix; returns float64 (..., 2)."""
    pts = np.asarray(points, dtype=np.float64)
    return pts @ matrix[:, :2].T + matrix[:, 2]


def warp_crop(frame: np.ndarray, box: CropBox, out_size: int,
              interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """Crop (out_size, out_size, C) from an (H, W, C) frame; outside the frame is black."""
    return cv2.warpAffine(frame, crop_matrix(box, out_size), (out_size, out_size), flags=interpolation,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def stretch_ranks(percentile: float, size: int) -> tuple[int, int]:
    """1-based nearest ranks of the ``percentile``-th and (100 - ``percentile``)-th of ``size``
    values: the low and high bounds of :class:`Normalisation`'s stretch (the GPU path reads the same
    ranks with ``torch.kthvalue``)."""
    lo, hi = (max(1, math.ceil(q / 100.0 * size)) for q in (percentile, 100.0 - percentile))
    return lo, hi


def stretch_bounds(crops: np.ndarray, percentile: float) -> tuple[np.ndarray, np.ndarray]:
    """(N,) low and high intensities of (N, ...) uint8 crops: the values at :func:`stretch_ranks`
    of each crop's sorted values. A histogram, not a sort: 8x faster than ``np.percentile``."""
    n = len(crops)
    flat = crops.reshape(n, -1)
    counts = np.bincount((flat + (np.arange(n) * 256)[:, None]).ravel(), minlength=256 * n)
    cum = counts.reshape(n, 256).cumsum(axis=1)
    lo, hi = ((cum >= r).argmax(axis=1).astype(np.float32) for r in stretch_ranks(percentile, flat.shape[1]))
    return lo, hi


def normalise_batch(crops_bgr: np.ndarray, norm: Normalisation) -> np.ndarray:
    """(N, S, S, 3) uint8 BGR -> (N, 3, S, S) float32 normalised RGB, contiguous; with
    ``norm.stretch``, each crop's contrast stretched first (see :class:`Normalisation`)."""
    x = crops_bgr[..., ::-1].astype(np.float32)
    if norm.stretch > 0 and len(x):
        lo, hi = stretch_bounds(crops_bgr, norm.stretch)
        gain = 255.0 / np.maximum(hi - lo, 255.0 / MAX_STRETCH_GAIN)
        x = np.clip((x - lo[:, None, None, None]) * gain[:, None, None, None], 0.0, 255.0)
    x *= 1.0 / 255.0
    x -= np.asarray(norm.mean, dtype=np.float32)
    x /= np.asarray(norm.std, dtype=np.float32)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def heatmap_to_input(points: np.ndarray, stride: float) -> np.ndarray:
    """Heatmap coordinates -> input-crop coordinates (heatmap pixel j is centred on stride*j + (stride-1)/2)."""
    return (np.asarray(points, dtype=np.float64) + 0.5) * stride - 0.5


def input_to_heatmap(points: np.ndarray, stride: float) -> np.ndarray:
    """Input-crop coordinates -> heatmap coordinates; the inverse of :func:`heatmap_to_input`."""
    return (np.asarray(points, dtype=np.float64) + 0.5) / stride - 0.5
