"""PyTorch on CUDA: FP16, channels_last and CUDA graphs, with the crop and decoding on the GPU.

The GPU path that needs no TensorRT: it runs a checkpoint (``.pt``) directly. Registry name
``torch-cuda``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor

from engine.backends.torch_backend import TorchBackend
from engine.gpu.cuda_graphs import CudaGraphCache, GraphPolicy
from engine.gpu.device_backend import DeviceBackendMixin
from engine.gpu.device_estimate import DeviceEstimator


class TorchCudaBackend(DeviceBackendMixin, TorchBackend):
    """A checkpoint's final stack on the current CUDA device in FP16 (float32 in and out).

    Each batch size gets a CUDA graph on first use (see :class:`GraphPolicy`); the input
    conversion to FP16 channels_last is part of the graph.
    """

    def __init__(self, model_path: Path, graphs: GraphPolicy | None = None) -> None:
        super().__init__(model_path, device="cuda", fp16=True)
        # torch's type stubs omit Module.to's memory_format keyword, which it accepts at runtime.
        self.net = self.net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        self._cuda = self._device
        self._stream = torch.cuda.Stream(self._cuda)
        self._graphs = CudaGraphCache(self._stream, self._graph_step, graphs or GraphPolicy())
        self._estimator = DeviceEstimator(self.metadata, self._cuda, self._stream)
        self.name = "torch-cuda"
        self.device = f"{torch.cuda.get_device_name(self._cuda)} (PyTorch {torch.__version__}, fp16)"

    def _forward(self, x: Tensor) -> Tensor:
        """(N, 3, S, S) float32 on the device -> (N, K, S/4, S/4) in FP16."""
        out: Tensor = self.net(x.to(self._dtype, memory_format=torch.channels_last))
        return out

    def _graph_step(self, static_in: Tensor) -> Callable[[], Tensor]:
        return lambda: self._forward(static_in)

    def run_device(self, x: Tensor) -> Tensor:
        """(N, 3, S, S) float32 on the device -> (N, K, S/4, S/4) float32 on the device (current stream)."""
        out = self._graphs.run(x.contiguous())
        # .float() makes a new tensor, so the graph's static output can be overwritten afterwards.
        return (out if out is not None else self._forward(x)).float()
