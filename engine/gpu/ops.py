"""Torch versions of the crop, normalisation and decoding steps, so GPU backends keep them on the device.

They mirror ``engine.crop`` (``cv2.warpAffine`` + ``normalise_batch``) and ``engine.decoding``
(``decode_heatmaps``, ``merge_flipped``) and run on any torch device, CPU included, which is how
their parity with the numpy/OpenCV versions is tested.

Coordinate frame (as in ``engine.crop``): pixel centres sit on integer coordinates, so pixel (0, 0)
covers [-0.5, 0.5]^2. ``grid_sample`` with ``align_corners=False`` uses the same convention once
pixel coordinates are normalised as ``(2x + 1) / W - 1``.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import cv2
import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F

from engine.crop import invert_affine, stretch_ranks
from engine.decoding import dark_newton_terms, zoom_matrix
from engine.metadata import MAX_STRETCH_GAIN, Normalisation


def crop_thetas(matrices: np.ndarray, frame_hw: tuple[int, int], out_size: int) -> np.ndarray:
    """``affine_grid`` thetas for crops of one frame size.

    Args:
        matrices: (N, 2, 3) frame -> crop matrices from :func:`engine.crop.crop_matrix`.
        frame_hw: (H, W) of the frames the crops come from.
        out_size: crop side S.

    Returns:
        (N, 2, 3) float32 thetas mapping normalised crop coordinates to normalised frame
        coordinates, both with ``align_corners=False``.
    """
    h, w = frame_hw
    s = float(out_size)
    # Normalised crop coordinate -> crop pixel: u = (S * un + S - 1) / 2.
    from_norm = np.array([[s / 2, 0.0, (s - 1) / 2], [0.0, s / 2, (s - 1) / 2], [0.0, 0.0, 1.0]])
    # Frame pixel -> normalised frame coordinate: xn = (2x + 1) / W - 1.
    to_norm = np.array([[2.0 / w, 0.0, 1.0 / w - 1.0], [0.0, 2.0 / h, 1.0 / h - 1.0], [0.0, 0.0, 1.0]])
    thetas = np.empty((len(matrices), 2, 3), dtype=np.float64)
    for i, m in enumerate(matrices):
        inv = np.vstack([invert_affine(m), [0.0, 0.0, 1.0]])
        thetas[i] = (to_norm @ inv @ from_norm)[:2]
    return thetas.astype(np.float32)


def frames_to_float(frames: Tensor) -> Tensor:
    """(F, H, W, C) uint8 -> (F, C, H, W) float32 (0..255); a channels-last view, no extra copy."""
    return frames.permute(0, 3, 1, 2).float()


def warp_frames(frames: Tensor, thetas: Tensor, frame_index: Sequence[int], out_size: int) -> Tensor:
    """Bilinear crops from a batch of same-sized frames, black outside: ``cv2.warpAffine`` on the device.

    Args:
        frames: (F, C, H, W) float frames.
        thetas: (N, 2, 3) float32 from :func:`crop_thetas`, on the frames' device.
        frame_index: N ints in [0, F): the frame each crop comes from.
        out_size: crop side S.

    Returns:
        (N, C, S, S) crops in the frames' dtype, in the order of ``thetas``.

    All crops of one frame are sampled by a single ``grid_sample`` call with their grids stacked
    along H, so a batch costs one kernel however the crops are spread over the frames; a frame
    with fewer crops than the busiest one pads with crops that are computed and dropped.
    """
    f, c = frames.shape[:2]
    s = out_size
    index = np.asarray(frame_index, dtype=np.int64)
    n = len(index)
    slot = np.zeros(n, dtype=np.int64)
    seen = np.zeros(f, dtype=np.int64)
    for i, j in enumerate(index):
        slot[i], seen[j] = seen[j], seen[j] + 1
    per_frame = int(seen.max()) if n else 0
    full = thetas.new_zeros((f * per_frame, 2, 3))
    flat = torch.from_numpy(index * per_frame + slot).to(thetas.device)
    full[flat] = thetas
    grid = F.affine_grid(full, [f * per_frame, c, s, s], align_corners=False)
    grid = grid.reshape(f, per_frame * s, s, 2).to(frames.dtype)
    crops = F.grid_sample(frames, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    crops = crops.reshape(f, c, per_frame, s, s).permute(0, 2, 1, 3, 4).reshape(f * per_frame, c, s, s)
    return crops[flat]


@functools.lru_cache(maxsize=16)
def _on_device(values: tuple[float, ...] | tuple[int, ...], dtype: torch.dtype, device: torch.device) -> Tensor:
    """Small constant tensors, uploaded once per device: a blocking host -> device copy per call
    would stall the stream for nothing."""
    return torch.tensor(values, dtype=dtype, device=device)


def normalise_crops(crops_bgr: Tensor, norm: Normalisation) -> Tensor:
    """(N, 3, S, S) BGR 0..255 -> (N, 3, S, S) float32 normalised RGB, as ``engine.crop.normalise_batch``."""
    rgb = crops_bgr.flip(1).float()
    if norm.stretch > 0 and len(rgb):
        flat = rgb.flatten(1)
        lo, hi = (flat.kthvalue(rank, dim=1).values.view(-1, 1, 1, 1)
                  for rank in stretch_ranks(norm.stretch, flat.shape[1]))
        gain = 255.0 / torch.clamp(hi - lo, min=255.0 / MAX_STRETCH_GAIN)
        rgb = torch.clamp((rgb - lo) * gain, 0.0, 255.0)
    mean = _on_device(tuple(norm.mean), torch.float32, rgb.device).view(1, 3, 1, 1)
    std = _on_device(tuple(norm.std), torch.float32, rgb.device).view(1, 3, 1, 1)
    return ((rgb * (1.0 / 255.0) - mean) / std).contiguous()


def merge_flipped(heatmaps: Tensor, flipped_heatmaps: Tensor, flip_permutation: Sequence[int]) -> Tensor:
    """Flip test on (N, K, H, W): as ``engine.decoding.merge_flipped``."""
    perm = _on_device(tuple(flip_permutation), torch.int64, heatmaps.device)
    back = flipped_heatmaps.index_select(1, perm).flip(-1)
    return 0.5 * (heatmaps + back)


def swap_sides(heatmaps: Tensor, rows: np.ndarray, flip_permutation: Sequence[int]) -> Tensor:
    """(N, K, H, W) with the rows ``rows`` given the other left/right labelling (their channels
    permuted); the permutation is uploaded once per device, as in :func:`merge_flipped`."""
    perm = _on_device(tuple(flip_permutation), torch.int64, heatmaps.device)
    index = torch.as_tensor(rows, device=heatmaps.device)
    out = heatmaps.clone()
    out[index] = heatmaps[index].index_select(1, perm)
    return out


def zoom_to_crop(heatmaps: Tensor, zoom: float) -> Tensor:
    """The zoom test's resampling on (N, K, H, W): as ``engine.decoding.zoom_to_crop`` (the same
    interpolation matrices, so the two agree to float rounding)."""
    h, w = heatmaps.shape[-2:]
    ay = _zoom_matrix_on(int(h), zoom, heatmaps.dtype, heatmaps.device)
    ax = _zoom_matrix_on(int(w), zoom, heatmaps.dtype, heatmaps.device)
    return torch.matmul(torch.matmul(ay, heatmaps), ax.T)


@functools.lru_cache(maxsize=8)
def _zoom_matrix_on(size: int, zoom: float, dtype: torch.dtype, device: torch.device) -> Tensor:
    """:func:`engine.decoding.zoom_matrix` uploaded once per device, as :func:`_on_device`."""
    return torch.as_tensor(np.array(zoom_matrix(size, zoom)), dtype=dtype, device=device)


def _take(flat: Tensor, index: Tensor) -> Tensor:
    """flat (N, K, H*W), index (N, K) -> (N, K) values."""
    return flat.gather(2, index.unsqueeze(-1)).squeeze(-1)


def argmax_2d(heatmaps: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(N, K, H, W) -> integer x (N, K), y (N, K) and peak value (N, K); ties go to the first index."""
    n, k, h, w = heatmaps.shape
    flat = heatmaps.reshape(n, k, h * w)
    idx = flat.argmax(dim=2)
    return idx % w, idx // w, _take(flat, idx)


def _quarter_offset(heatmaps: Tensor, xi: Tensor, yi: Tensor) -> Tensor:
    """0.25 px toward the higher neighbour per axis, (N, K, 2) float64."""
    n, k, h, w = heatmaps.shape
    flat = heatmaps.reshape(n, k, h * w)
    xl, xr = (xi - 1).clamp(0, w - 1), (xi + 1).clamp(0, w - 1)
    yu, yd = (yi - 1).clamp(0, h - 1), (yi + 1).clamp(0, h - 1)
    dx = _take(flat, yi * w + xr) - _take(flat, yi * w + xl)
    dy = _take(flat, yd * w + xi) - _take(flat, yu * w + xi)
    return 0.25 * torch.stack([dx.sign(), dy.sign()], dim=-1).double()


def _gaussian_blur(heatmaps: Tensor, kernel_size: int) -> Tensor:
    """``cv2.GaussianBlur(hm, (k, k), 0)`` per (N, K) map: same kernel, reflect-101 borders."""
    n, k, h, w = heatmaps.shape
    taps = _on_device(tuple(cv2.getGaussianKernel(kernel_size, 0).ravel().tolist()), torch.float32, heatmaps.device)
    pad = kernel_size // 2
    x = heatmaps.reshape(n * k, 1, h, w)
    # torch's "reflect" mirrors without repeating the edge: OpenCV's default BORDER_REFLECT_101.
    x = F.conv2d(F.pad(x, (0, 0, pad, pad), mode="reflect"), taps.view(1, 1, -1, 1))
    x = F.conv2d(F.pad(x, (pad, pad, 0, 0), mode="reflect"), taps.view(1, 1, 1, -1))
    return x.reshape(n, k, h, w)


def _dark_offset(heatmaps: Tensor, xi: Tensor, yi: Tensor, blur_kernel: int) -> Tensor:
    """DARK Newton step on the log-heatmap at the peak, (N, K, 2) float64, NaN where invalid.

    Same algorithm and thresholds as ``engine.decoding._dark_offset``; only the 3x3 neighbourhood
    of each peak is gathered, so the float64 part is 9 values per joint.
    """
    n, k, h, w = heatmaps.shape
    hm = heatmaps.float()
    if blur_kernel > 1:
        peak = hm.amax(dim=(2, 3), keepdim=True)
        hm = _gaussian_blur(hm, blur_kernel)
        top = hm.amax(dim=(2, 3), keepdim=True)
        # Keep the peak height so confidences are unchanged in meaning (as the CPU version).
        hm = hm * torch.where(top > 0, peak / torch.where(top > 0, top, torch.ones_like(top)), torch.ones_like(top))
    flat = hm.reshape(n, k, h * w)
    inside = (xi >= 1) & (xi <= w - 2) & (yi >= 1) & (yi <= h - 2)
    x, y = xi.clamp(1, w - 2), yi.clamp(1, h - 2)

    def at(dy: int, dx: int) -> Tensor:
        # log in float32 then float64, exactly as the numpy version evaluates it.
        return _take(flat, (y + dy) * w + (x + dx)).clamp_min(1e-10).log().double()

    det, dxx, num_x, num_y = dark_newton_terms(at)
    ok = inside & (det > 1e-12) & (dxx < 0)
    safe = torch.where(ok, det, torch.ones_like(det))
    ox, oy = num_x / safe, num_y / safe
    ok &= (ox.abs() <= 1.0) & (oy.abs() <= 1.0)
    off = torch.stack([ox, oy], dim=-1)
    return torch.where(ok.unsqueeze(-1), off, torch.full_like(off, float("nan")))


def decode_heatmaps(heatmaps: Tensor, refine: str = "dark", blur_kernel: int = 3) -> Tensor:
    """(N, K, H, W) heatmaps -> (N, K, 3) float32: x, y in heatmap pixels and a confidence in [0, 1].

    Same result as ``engine.decoding.decode_heatmaps`` (argmax, then ``"dark"`` with the quarter
    shift as fallback, ``"quarter"`` or ``"none"``), on the heatmaps' device, so only N*K*3 values
    need to leave it.
    """
    if heatmaps.ndim != 4:
        raise ValueError(f"heatmaps must be (N, K, H, W), got shape {tuple(heatmaps.shape)}")
    heatmaps = heatmaps.float()
    xi, yi, val = argmax_2d(heatmaps)
    xy = torch.stack([xi, yi], dim=-1).double()
    if refine == "dark":
        off = _dark_offset(heatmaps, xi, yi, blur_kernel)
        xy = xy + torch.where(off.isnan(), _quarter_offset(heatmaps, xi, yi), off)
    elif refine == "quarter":
        xy = xy + _quarter_offset(heatmaps, xi, yi)
    elif refine != "none":
        raise ValueError(f"unknown refine mode {refine!r}")
    conf = val.clamp(0.0, 1.0).double()
    return torch.cat([xy, conf.unsqueeze(-1)], dim=-1).float()
