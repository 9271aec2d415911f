"""``Backend.estimate`` with the crop, normalisation and decoding on a torch device.

Per call: each distinct frame crosses to the device once, as uint8 (through a reused pinned
staging buffer on CUDA); the crops are warped and normalised there; the network runs; the
heatmaps are merged (flip test) and decoded there; only (N, K, 3) floats come back, and the final
heatmap -> frame mapping runs on the host in float64 exactly as the CPU path does.

It works on any torch device; on the CPU it is the parity reference for the GPU path.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from engine.backends.base import UnsureTest, heatmaps_to_frame, place_zoom_test, zoomed_boxes
from engine.crop import CropBox, crop_matrix
from engine.decoding import zoom_swaps
from engine.errors import InputError
from engine.gpu import ops as gpu_ops
from engine.metadata import ModelMetadata
from engine.timing import StageTimer

# (N, 3, S, S) float32 normalised crops on the device -> (N, K, S/4, S/4) heatmaps on the device.
DeviceInfer = Callable[[Tensor], Tensor]


class DeviceEstimator:
    """Frame-level pose estimation around a device-side network call.

    Args:
        metadata: the model's metadata (input size, normalisation, skeleton for the flip test).
        device: where the tensors live.
        stream: CUDA stream for all the work (None on the CPU, or for the current stream).
        max_frames_per_warp: distinct frames converted to float at once; bounds the memory of a
            large offline batch (64 frames of 1080p in float32 would be 1.6 GB).
        refine, blur_kernel: heatmap refinement, as :func:`engine.decoding.decode_heatmaps`.
    """

    def __init__(self, metadata: ModelMetadata, device: torch.device, stream: torch.cuda.Stream | None = None,
                 max_frames_per_warp: int = 16, refine: str = "dark", blur_kernel: int = 3) -> None:
        self.metadata = metadata
        self.device = device
        self.stream = stream
        self.max_frames_per_warp = max(1, max_frames_per_warp)
        self.refine = refine
        self.blur_kernel = blur_kernel
        self._flip_permutation = metadata.skeleton_spec.flip_permutation()
        self._pinned: Tensor | None = None
        self._upload_done: torch.cuda.Event | None = None

    @contextlib.contextmanager
    def _on_stream(self) -> Iterator[None]:
        with torch.no_grad():
            if self.stream is None:
                yield
            else:
                with torch.cuda.stream(self.stream):
                    yield

    def _sync(self) -> None:
        # The caller blocks for the result anyway; synchronising at stage boundaries costs a few
        # microseconds and makes the StageTimer figures mean GPU time, not launch time.
        if self.stream is not None:
            self.stream.synchronize()

    def estimate(self, frames: Sequence[np.ndarray], boxes: Sequence[CropBox], flip: bool,
                 timer: StageTimer | None, infer: DeviceInfer, unsure: UnsureTest | None = None,
                 zoom: float | None = None, unzoomed: np.ndarray | None = None) -> np.ndarray:
        """Pose for each (frame, box) pair; same contract as :meth:`engine.backends.base.Backend.estimate`
        (``unsure``, ``zoom`` and ``unzoomed`` included: the crops ``unsure`` marks are read mirrored as well, and
        the zoom test's crops are read and resampled, on the device).

        Returns:
            (N, K, 3) float32: x, y in frame pixels and a confidence in [0, 1].
        """
        timer = timer or StageTimer()
        n = len(boxes)
        if len(frames) != n:
            raise ValueError(f"got {len(frames)} frames for {n} boxes")
        if n == 0:
            return np.zeros((0, self.metadata.config.num_joints, 3), dtype=np.float32)
        with self._on_stream():
            heat, mirrored = self._heatmaps(frames, boxes, flip, timer, infer, unsure=unsure)
            with timer.stage("decode-heatmaps"):
                # The device -> host copies: N * K * 3 values a decode.
                keypoints = gpu_ops.decode_heatmaps(heat, self.refine, self.blur_kernel).cpu().numpy()
            if zoom is not None:
                zoomed, _ = self._heatmaps(frames, zoomed_boxes(boxes, zoom), flip, timer, infer, mirror=mirrored)
                with timer.stage("decode-heatmaps"):
                    zoomed = gpu_ops.zoom_to_crop(zoomed, zoom)
                    seen = gpu_ops.decode_heatmaps(zoomed, self.refine, self.blur_kernel)[..., :2].cpu().numpy()
                    swap = zoom_swaps(keypoints, seen, zoom, heat.shape[-1], self.metadata.threshold_for(flip),
                                      self._flip_permutation)
                    if swap.any():  # sides swapped to the crop's, as the CPU path
                        zoomed = gpu_ops.swap_sides(zoomed, np.flatnonzero(swap), self._flip_permutation)
                    mean = 0.5 * (heat + zoomed)
                    both = gpu_ops.decode_heatmaps(mean, self.refine, self.blur_kernel)[..., :2].cpu().numpy()
                    place_zoom_test(keypoints, both, zoom, boxes, self.metadata, unzoomed)
            with timer.stage("decode-heatmaps"):
                keypoints[..., :2] = heatmaps_to_frame(keypoints[..., :2], boxes, self.metadata)
        return keypoints

    def _heatmaps(self, frames: Sequence[np.ndarray], boxes: Sequence[CropBox], flip: bool, timer: StageTimer,
                  infer: DeviceInfer, unsure: UnsureTest | None = None,
                  mirror: np.ndarray | None = None) -> tuple[Tensor, np.ndarray]:
        """(N, K, H, W) heatmaps on the device, as :meth:`engine.backends.base.Backend._heatmaps`
        (merged with the mirrored crop's: all with ``flip``, else the rows in ``mirror``, else those
        ``unsure`` marks), and those rows."""
        n = len(boxes)
        with timer.stage("preprocess"):
            x = self.preprocess(frames, boxes)
            if flip:
                x = torch.cat([x, x.flip(-1)])
            self._sync()
        with timer.stage("infer"):
            heat = infer(x).float()
            self._sync()
        if flip:
            with timer.stage("decode-heatmaps"):
                return gpu_ops.merge_flipped(heat[:n], heat[n:], self._flip_permutation), np.arange(n)
        if mirror is not None:
            again = mirror
        elif unsure is not None:
            with timer.stage("decode-heatmaps"):
                poses = gpu_ops.decode_heatmaps(heat, self.refine, self.blur_kernel).cpu().numpy()
                again = np.flatnonzero(unsure(poses))
        else:
            again = np.zeros(0, np.intp)
        if len(again):
            rows = torch.as_tensor(again, device=heat.device)
            with timer.stage("infer"):
                # Padded to a power of two: each batch shape costs a CUDA graph (a bounded cache),
                # and how many crops are unsure changes from call to call.
                crops = x[rows].flip(-1)
                padded = 1 << (len(again) - 1).bit_length()
                if padded > len(again):
                    crops = torch.cat([crops, crops[-1:].expand(padded - len(again), *crops.shape[1:])])
                mirrored = infer(crops)[:len(again)].float()
                self._sync()
            with timer.stage("decode-heatmaps"):
                heat = heat.clone()
                heat[rows] = gpu_ops.merge_flipped(heat[rows], mirrored, self._flip_permutation)
        return heat, again

    def preprocess(self, frames: Sequence[np.ndarray], boxes: Sequence[CropBox]) -> Tensor:
        """(H, W, 3) uint8 BGR frames and their boxes -> (N, 3, S, S) float32 normalised RGB crops on the device.

        A frame object repeated in ``frames`` (several people in one frame) is uploaded once.
        """
        s = self.metadata.input_size
        unique: dict[int, int] = {}
        distinct: list[np.ndarray] = []
        frame_of = np.empty(len(frames), dtype=np.int64)
        for i, frame in enumerate(frames):
            key = id(frame)
            if key not in unique:
                _check_frame(frame)
                unique[key] = len(distinct)
                distinct.append(frame)
            frame_of[i] = unique[key]
        matrices = np.stack([crop_matrix(b, s) for b in boxes])

        crops = torch.empty((len(boxes), 3, s, s), dtype=torch.float32, device=self.device)
        by_shape: dict[tuple[int, int, int], list[int]] = {}
        for j, frame in enumerate(distinct):
            h, w, c = frame.shape
            by_shape.setdefault((h, w, c), []).append(j)
        for shape, members in by_shape.items():
            for start in range(0, len(members), self.max_frames_per_warp):
                chunk = members[start:start + self.max_frames_per_warp]
                local = {j: k for k, j in enumerate(chunk)}
                rows = [i for i in range(len(boxes)) if frame_of[i] in local]
                thetas = torch.from_numpy(gpu_ops.crop_thetas(matrices[rows], (shape[0], shape[1]), s)).to(self.device)
                uploaded = self._upload([distinct[j] for j in chunk])
                warped = gpu_ops.warp_frames(gpu_ops.frames_to_float(uploaded), thetas,
                                             [local[int(frame_of[i])] for i in rows], s)
                crops[torch.as_tensor(rows, device=self.device)] = warped
        return gpu_ops.normalise_crops(crops, self.metadata.normalisation)

    def _upload(self, frames: list[np.ndarray]) -> Tensor:
        """(F, H, W, 3) uint8 on the device: one host -> device copy of uint8 data for the chunk."""
        if self.device.type != "cuda":
            return torch.from_numpy(np.stack(frames))
        shape = (len(frames), *frames[0].shape)
        staging = self._staging(int(np.prod(shape)))[: int(np.prod(shape))].view(shape)
        host: Any = staging.numpy()
        for i, frame in enumerate(frames):
            np.copyto(host[i], frame)
        on_device = staging.to(self.device, non_blocking=True)
        if self._upload_done is None:
            self._upload_done = torch.cuda.Event()
        self._upload_done.record()
        return on_device

    def _staging(self, nbytes: int) -> Tensor:
        """The pinned staging buffer, grown as needed, once the previous copy out of it has finished."""
        if self._upload_done is not None:
            self._upload_done.synchronize()
        if self._pinned is None or self._pinned.numel() < nbytes:
            self._pinned = torch.empty(nbytes, dtype=torch.uint8, pin_memory=True)
        return self._pinned


def _check_frame(frame: np.ndarray) -> None:
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        desc = f"{frame.dtype} {frame.shape}" if isinstance(frame, np.ndarray) else type(frame).__name__
        raise InputError(f"frames must be (H, W, 3) uint8 BGR arrays, got {desc}")
