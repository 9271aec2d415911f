"""What the TensorRT builder and runtime share: availability checks, this machine's identity, a logger.

Importing this module imports neither tensorrt nor torch; the functions do, when called. With only
``tensorrt-stubs`` installed, ``import tensorrt`` succeeds as an empty namespace package, so the
runtime is detected by its classes, not by the import.
"""

from __future__ import annotations

import importlib.util
import logging
import re
from typing import TYPE_CHECKING

from engine.errors import BackendError
from engine.gpu.engine_sidecar import RuntimeInfo

if TYPE_CHECKING:
    import tensorrt as trt

log = logging.getLogger("engine.tensorrt")

# ExecutionContextAllocationStrategy, IExecutionContext.set_device_memory and
# ICudaEngine.device_memory_size_v2 (shared scratch memory between contexts) arrived in 10.1.
MIN_VERSION = (10, 1)
INSTALL_HINT = ("install the TensorRT wheel for your CUDA (e.g. pip install tensorrt-cu12) and a CUDA build of "
                "PyTorch; see the README's GPU section")


def version_tuple(version: str) -> tuple[int, ...]:
    """``"10.13.0.35"`` -> ``(10, 13, 0, 35)``; non-numeric parts end the tuple."""
    out = []
    for part in version.split("."):
        match = re.match(r"\d+", part)
        if not match:
            break
        out.append(int(match.group()))
    return tuple(out)


def unavailable_reason() -> str | None:
    """Why TensorRT cannot be used here (no runtime, only stubs, too old, no CUDA), or None."""
    if importlib.util.find_spec("tensorrt") is None:
        return f"TensorRT is not installed; {INSTALL_HINT}"
    import tensorrt

    if not (hasattr(tensorrt, "Builder") and hasattr(tensorrt, "Runtime")):
        return f"TensorRT is not installed (only its type stubs are); {INSTALL_HINT}"
    version = str(getattr(tensorrt, "__version__", "0"))
    if version_tuple(version) < MIN_VERSION:
        return f"TensorRT {version} is too old; hgpose needs {'.'.join(map(str, MIN_VERSION))} or newer"
    if importlib.util.find_spec("torch") is None:
        return f"PyTorch is not installed (hgpose holds TensorRT buffers in torch CUDA tensors); {INSTALL_HINT}"
    import torch

    if not torch.cuda.is_available():
        return "no CUDA GPU is visible to PyTorch (CPU-only build, no driver, or CUDA_VISIBLE_DEVICES is empty)"
    return None


def require_tensorrt(purpose: str) -> None:
    """``BackendError`` naming ``purpose`` (e.g. ``"hgpose build-engine"``) unless TensorRT is usable."""
    reason = unavailable_reason()
    if reason is not None:
        raise BackendError(f"{purpose} needs TensorRT and a CUDA GPU: {reason}")


def current_runtime_info(device: int | None = None) -> RuntimeInfo:
    """TensorRT version and the name and compute capability of CUDA ``device`` (default: current)."""
    import tensorrt
    import torch

    index = torch.cuda.current_device() if device is None else device
    major, minor = torch.cuda.get_device_capability(index)
    return RuntimeInfo(tensorrt_version=tensorrt.__version__, gpu_name=torch.cuda.get_device_name(index),
                       compute_capability=f"{major}.{minor}")


def make_logger() -> trt.ILogger:
    """A TensorRT logger that forwards to Python logging (``engine.tensorrt``) instead of printing.

    Library code never prints; errors are also kept on ``logger.errors`` so that a failed
    deserialisation or build can quote TensorRT's own reason in the exception.
    """
    import tensorrt as trt

    class ForwardingLogger(trt.ILogger):
        def __init__(self) -> None:
            trt.ILogger.__init__(self)
            self.errors: list[str] = []

        def log(self, severity: trt.ILogger.Severity, msg: str) -> None:
            level = int(severity)  # 0 internal error, 1 error, 2 warning, 3 info, 4 verbose
            if level <= 1:
                self.errors.append(msg)
            log.log({0: logging.CRITICAL, 1: logging.ERROR, 2: logging.WARNING, 3: logging.INFO}.get(
                level, logging.DEBUG), "TensorRT: %s", msg)

    return ForwardingLogger()


def logged_errors(logger: trt.ILogger) -> str:
    """The errors a :func:`make_logger` logger collected, joined for an exception message."""
    errors: list[str] = getattr(logger, "errors", [])
    return "; ".join(errors[-3:]) if errors else "no details from TensorRT"
