"""The host-facing half shared by backends whose network runs on a CUDA device (torch-cuda, tensorrt)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from engine.backends.base import UnsureTest
from engine.crop import CropBox
from engine.gpu.cuda_graphs import CudaGraphCache
from engine.gpu.device_estimate import DeviceEstimator
from engine.timing import StageTimer


class DeviceBackendMixin:
    """``infer``, ``estimate`` and ``close`` around a subclass's :meth:`run_device`.

    Mix in before :class:`engine.backends.base.Backend` (or a subclass of it). The subclass sets
    ``_cuda`` (its device), ``_stream`` (all its work runs there), ``_graphs`` and ``_estimator``.
    """

    _cuda: torch.device
    _stream: torch.cuda.Stream
    _graphs: CudaGraphCache
    _estimator: DeviceEstimator

    def run_device(self, x: Tensor) -> Tensor:
        """(N, 3, S, S) float32 on the device -> (N, K, S/4, S/4) float32 on the device (current stream)."""
        raise NotImplementedError

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """(N, 3, S, S) float32 normalised RGB on the host -> (N, K, S/4, S/4) float32 heatmaps on the host."""
        with torch.no_grad(), torch.cuda.stream(self._stream):
            x = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).to(self._cuda)
            return self.run_device(x).cpu().numpy()

    def estimate(self, frames: Sequence[np.ndarray], boxes: Sequence[CropBox], flip: bool = False,
                 timer: StageTimer | None = None, unsure: UnsureTest | None = None,
                 zoom: float | None = None, unzoomed: np.ndarray | None = None) -> np.ndarray:
        """As :meth:`engine.backends.base.Backend.estimate`, with the warp, normalisation and decoding
        on the GPU; returns (N, K, 3) float32 in frame pixels."""
        return self._estimator.estimate(frames, boxes, flip, timer, self.run_device, unsure, zoom, unzoomed)

    def close(self) -> None:
        self._stream.synchronize()
        self._graphs.clear()
