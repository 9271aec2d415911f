"""Heatmap decoding: integer argmax refined to sub-pixel, plus the flip test.

All functions take heatmaps (N, K, H, W) float32 and return coordinates in the heatmap frame
(x right, y down, pixel centres on integers) unless they say otherwise.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import cv2
import numpy as np

# numpy arrays or torch tensors: anything with elementwise arithmetic.
T = TypeVar("T", bound=Any)


def argmax_2d(heatmaps: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(N, K, H, W) -> integer x (N, K), y (N, K) and peak value (N, K)."""
    n, k, h, w = heatmaps.shape
    flat = heatmaps.reshape(n, k, h * w)
    idx = flat.argmax(axis=2)
    val = np.take_along_axis(flat, idx[..., None], axis=2)[..., 0]
    return idx % w, idx // w, val


def _quarter_offset(heatmaps: np.ndarray, xi: np.ndarray, yi: np.ndarray) -> np.ndarray:
    """The classic 0.25 px shift toward the higher neighbour, per axis. Returns (N, K, 2)."""
    n, k, h, w = heatmaps.shape
    ni, ki = np.meshgrid(np.arange(n), np.arange(k), indexing="ij")
    xl, xr = np.clip(xi - 1, 0, w - 1), np.clip(xi + 1, 0, w - 1)
    yu, yd = np.clip(yi - 1, 0, h - 1), np.clip(yi + 1, 0, h - 1)
    dx = heatmaps[ni, ki, yi, xr] - heatmaps[ni, ki, yi, xl]
    dy = heatmaps[ni, ki, yd, xi] - heatmaps[ni, ki, yu, xi]
    return 0.25 * np.stack([np.sign(dx), np.sign(dy)], axis=-1)


def dark_newton_terms(at: Callable[[int, int], T]) -> tuple[T, T, T, T]:
    """The DARK Newton step from the 3x3 log-heatmap neighbourhood of each peak.

    ``at(dy, dx)`` returns the log-heatmap at offset (dy, dx) from every peak, as numpy arrays or
    torch tensors: only arithmetic is used, so the CPU and GPU decoders share this maths.
    Returns ``(det, dxx, num_x, num_y)``: the offset is ``(num_x, num_y) / det`` where the Hessian is
    negative definite (``det > 0`` and ``dxx < 0``).
    """
    c = at(0, 0)
    dxx = at(0, 1) - 2 * c + at(0, -1)
    dyy = at(1, 0) - 2 * c + at(-1, 0)
    dxy = 0.25 * (at(1, 1) - at(1, -1) - at(-1, 1) + at(-1, -1))
    gx = 0.5 * (at(0, 1) - at(0, -1))
    gy = 0.5 * (at(1, 0) - at(-1, 0))
    return dxx * dyy - dxy * dxy, dxx, -(dyy * gx - dxy * gy), -(dxx * gy - dxy * gx)


def _dark_offset(heatmaps: np.ndarray, xi: np.ndarray, yi: np.ndarray, blur_kernel: int) -> np.ndarray:
    """DARK refinement (Zhang et al., CVPR 2020): a Newton step on the log-heatmap at the peak.

    A Gaussian's log is a quadratic, so one step lands on the true centre; the blur makes a
    network's heatmap closer to Gaussian first. Returns (N, K, 2), NaN where the step is invalid.
    """
    n, k, h, w = heatmaps.shape
    hm = heatmaps.astype(np.float32, copy=True)
    if blur_kernel > 1:
        peak = hm.reshape(n, k, -1).max(axis=2)
        # Separable Gaussian over all N*K maps at once (reflect-101 borders, like OpenCV's default).
        kern = cv2.getGaussianKernel(blur_kernel, 0).ravel().astype(np.float32)
        r = blur_kernel // 2
        padded = np.pad(hm, ((0, 0), (0, 0), (r, r), (r, r)), mode="reflect")
        rows = sum(kern[i] * padded[:, :, i:i + h, :] for i in range(blur_kernel))
        hm = sum(kern[i] * rows[:, :, :, i:i + w] for i in range(blur_kernel))
        # Keep each map's peak height so the log-domain step sees the same shape.
        new_peak = hm.reshape(n, k, -1).max(axis=2)
        hm = hm * np.where(new_peak > 0, peak / np.maximum(new_peak, 1e-12), 1.0)[..., None, None]
    logh = np.log(np.maximum(hm, 1e-10)).astype(np.float64)
    ni, ki = np.meshgrid(np.arange(n), np.arange(k), indexing="ij")
    inside = (xi >= 1) & (xi <= w - 2) & (yi >= 1) & (yi <= h - 2)
    x = np.clip(xi, 1, w - 2)
    y = np.clip(yi, 1, h - 2)

    def at(dy: int, dx: int) -> np.ndarray:
        return logh[ni, ki, y + dy, x + dx]

    det, dxx, num_x, num_y = dark_newton_terms(at)
    # A maximum needs a negative-definite Hessian; otherwise the step is meaningless.
    ok = inside & (det > 1e-12) & (dxx < 0)
    safe = np.where(ok, det, 1.0)
    ox, oy = num_x / safe, num_y / safe
    ok &= (np.abs(ox) <= 1.0) & (np.abs(oy) <= 1.0)
    off = np.stack([ox, oy], axis=-1)
    off[~ok] = np.nan
    return off


def decode_heatmaps(heatmaps: np.ndarray, refine: str = "dark", blur_kernel: int = 3) -> np.ndarray:
    """Decode (N, K, H, W) heatmaps to (N, K, 3): x, y in heatmap pixels and a confidence.

    Args:
        refine: ``"dark"`` (Taylor step, falls back to the quarter shift where it is invalid),
            ``"quarter"`` (0.25 px toward the higher neighbour) or ``"none"``.
        blur_kernel: odd Gaussian kernel for DARK's smoothing; 1 disables it.

    The confidence is the heatmap's peak value, clipped to [0, 1].
    """
    if heatmaps.ndim != 4:
        raise ValueError(f"heatmaps must be (N, K, H, W), got shape {heatmaps.shape}")
    xi, yi, val = argmax_2d(heatmaps)
    xy = np.stack([xi, yi], axis=-1).astype(np.float64)
    if refine == "dark":
        off = _dark_offset(heatmaps, xi, yi, blur_kernel)
        quarter = _quarter_offset(heatmaps, xi, yi)
        off = np.where(np.isnan(off), quarter, off)
        xy += off
    elif refine == "quarter":
        xy += _quarter_offset(heatmaps, xi, yi)
    elif refine != "none":
        raise ValueError(f"unknown refine mode {refine!r}")
    conf = np.clip(val, 0.0, 1.0)
    return np.concatenate([xy, conf[..., None]], axis=-1).astype(np.float32)


def merge_flipped(heatmaps: np.ndarray, flipped_heatmaps: np.ndarray,
                  flip_permutation: Sequence[int]) -> np.ndarray:
    """Flip test: average heatmaps (N, K, H, W) with those of the mirrored crop.

    The mirrored crop's heatmaps are flipped back along W and their left/right channels swapped.
    With pixel centres at stride*j + (stride-1)/2, mirroring the input maps heatmap column j to
    W-1-j exactly, so no shift is needed.
    """
    back = flipped_heatmaps[:, list(flip_permutation), :, ::-1]
    return 0.5 * (heatmaps + back)


@functools.lru_cache(maxsize=8)
def zoom_matrix(size: int, zoom: float) -> np.ndarray:
    """(size, size) float64 bilinear resampling along one heatmap axis, for the zoom test.

    Two crops share a centre and one is ``zoom`` times the other's side (below 1: zoomed in). Row
    ``u`` holds the weights of the zoomed crop's pixels at the other crop's pixel ``u``: with pixel
    centres on integers and the centre at (size - 1) / 2 in both, a point ``d`` heatmap pixels from
    the centre of the other crop is ``d / zoom`` from the centre of the zoomed one. Where the zoomed
    crop does not reach, the weights are zero (it saw nothing there), as ``cv2.warpAffine`` with a
    zero border. Cached (read-only): every frame asks for the same one.
    """
    if not zoom > 0:
        raise ValueError(f"zoom must be > 0, got {zoom}")
    c = (size - 1) / 2
    p = (np.arange(size) - c) / zoom + c
    i0 = np.floor(p).astype(np.int64)
    w = p - i0
    a = np.zeros((size, size), dtype=np.float64)
    rows = np.arange(size)
    for index, weight in ((i0, 1.0 - w), (i0 + 1, w)):
        inside = (index >= 0) & (index < size)
        a[rows[inside], index[inside]] += weight[inside]
    a.setflags(write=False)  # cached: shared by every call
    return a


def zoom_sees(points: np.ndarray, zoom: float, size: int, margin: float = 1.0) -> np.ndarray:
    """Whether a crop zoomed in by ``zoom`` sees heatmap points (..., 2) of the crop it was zoomed
    from (heatmaps ``size`` pixels square), with ``margin`` heatmap pixels to spare, so that a peak's
    neighbourhood is seen too; (...,) bool."""
    c = (size - 1) / 2
    reach = zoom * c - margin
    return (np.abs(points[..., 0] - c) <= reach) & (np.abs(points[..., 1] - c) <= reach)


def zoom_swaps(poses: np.ndarray, zoomed: np.ndarray, zoom: float, size: int, threshold: float,
               flip_permutation: Sequence[int]) -> np.ndarray:
    """(N,) True where the zoomed read labels a person the other way round from the crop's own read
    (:func:`sides_disagree`), judged on the joints of the crop's poses (N, K, 3) (heatmap pixels,
    confidence) that the zoomed crop sees (:func:`zoom_sees`) and that the crop itself reads at least
    at half the drawing ``threshold`` (the tracker's support level); ``zoomed``: (N, K, 2) peaks of the
    zoomed read resampled onto the crop's grid."""
    judged = zoom_sees(poses[..., :2], zoom, size) & (poses[..., 2] >= 0.5 * threshold)
    return sides_disagree(poses[..., :2], zoomed, flip_permutation, judged)


def sides_disagree(own: np.ndarray, other: np.ndarray, flip_permutation: Sequence[int],
                   judged: np.ndarray, min_pairs: int = 2) -> np.ndarray:
    """(N,) True where a second read ``other`` (N, K, 2) of the same people labels them the other
    way round from ``own`` (N, K, 2): its joints with left and right swapped lie closer to ``own``
    than as they are. The model mirrors about one person in eight, and not always in both of two
    reads; heatmaps averaged across the two labellings put both wrists on one side.

    Only left/right pairs whose two joints are ``judged`` (N, K) (seen well by both reads) count,
    and a person with fewer than ``min_pairs`` such pairs keeps its labelling: a weak or unseen joint
    of the second read may lie anywhere, and two of them could fake a swap.
    """
    perm = np.asarray(list(flip_permutation))
    paired = perm != np.arange(len(perm))
    use = judged & judged[:, perm] & paired
    same = (np.linalg.norm(own - other, axis=-1) * use).sum(axis=-1)
    swapped = (np.linalg.norm(own - other[:, perm], axis=-1) * use).sum(axis=-1)
    return (swapped < same) & (use.sum(axis=-1) >= 2 * min_pairs)


def place_zoomed(own: np.ndarray, both: np.ndarray, zoom: float, size: int) -> np.ndarray:
    """Zoom test: joint positions (N, K, 2) in heatmap pixels, from the crop's own peaks ``own`` and
    the peaks ``both`` of the mean of its heatmaps and the zoomed crop's (:func:`zoom_to_crop`).

    Where the crop's own peak lies inside what the zoomed crop sees (:func:`zoom_sees`), the mean's
    peak; elsewhere the crop's own. The mean over the whole crop would halve a hand or foot beyond
    the zoomed view (the zoomed read is zero there), so a weaker peak inside would win and the pose
    pull in.
    """
    return np.where(zoom_sees(own, zoom, size)[..., None], both, own).astype(np.float32)


def zoom_to_crop(heatmaps: np.ndarray, zoom: float) -> np.ndarray:
    """Heatmaps (N, K, H, W) of crops ``zoom`` times the side of the crops they were zoomed from
    (same centres), resampled onto those crops' heatmap grids (:func:`zoom_matrix`); float32."""
    h, w = heatmaps.shape[-2:]
    ay = zoom_matrix(h, zoom).astype(np.float32)
    ax = zoom_matrix(w, zoom).astype(np.float32)
    return np.matmul(np.matmul(ay, heatmaps.astype(np.float32, copy=False)), ax.T)
