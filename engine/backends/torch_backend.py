"""PyTorch backend for checkpoints (``.pt``): CPU, or CUDA in FP32 or FP16."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.backends.base import Backend
from engine.errors import BackendError


class TorchBackend(Backend):
    """Runs a checkpoint's final stack; ``device`` is ``"cpu"`` or ``"cuda"``."""

    def __init__(self, model_path: Path, device: str = "cpu", fp16: bool = False) -> None:
        try:
            import torch
        except ImportError:
            raise BackendError("backend torch needs PyTorch: pip install 'hgpose[torch]'") from None
        from engine.checkpoint import load_checkpoint
        from engine.model import LastStack

        if device == "cuda" and not torch.cuda.is_available():
            raise BackendError("backend torch-cuda needs a CUDA GPU and a CUDA build of PyTorch")
        model, meta = load_checkpoint(model_path)
        super().__init__(model_path, meta)
        self._torch = torch
        self._device = torch.device(device)
        self._dtype = torch.float16 if (fp16 and device == "cuda") else torch.float32
        self.net = LastStack(model).to(self._device, dtype=self._dtype).eval()
        self.name = "torch-cuda" if device == "cuda" else "torch"
        self.device = torch.cuda.get_device_name() if device == "cuda" else f"CPU ({torch.get_num_threads()} threads)"

    def infer(self, batch: np.ndarray) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).to(self._device, self._dtype)
            return self.net(x).float().cpu().numpy()
