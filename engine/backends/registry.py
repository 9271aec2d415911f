"""Choosing and opening a backend by name, including ``auto``.

Names: ``auto``, ``onnxruntime`` (CPU), ``onnxruntime-cuda``, ``torch`` (CPU), ``torch-cuda``,
``tensorrt``. ``auto`` picks the fastest available: a TensorRT engine, then ONNX Runtime on CUDA,
then torch on CUDA, then ONNX Runtime on the CPU (then torch on the CPU for a lone checkpoint).

A model path may name any of the model's files; siblings with the same stem and another extension
(``m.onnx``, ``m.pt``, ``m.engine``) are used when the chosen backend needs them.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

from engine.backends.base import Backend
from engine.errors import BackendError, ModelError
from engine.model_file import model_kind, require_file

log = logging.getLogger(__name__)

BACKENDS = ("auto", "onnxruntime", "onnxruntime-cuda", "torch", "torch-cuda", "tensorrt")


def _sibling(path: Path, suffix: str) -> Path | None:
    cand = path.with_suffix(suffix)
    return cand if cand.is_file() else None


def tensorrt_available() -> bool:
    """True when a usable TensorRT runtime (not just its type stubs, recent enough) and torch CUDA exist."""
    from engine.gpu.tensorrt_support import unavailable_reason

    return unavailable_reason() is None


def torch_cuda_available() -> bool:
    if importlib.util.find_spec("torch") is None:
        return False
    import torch

    return torch.cuda.is_available()


def ort_cuda_available() -> bool:
    from engine.backends.onnxruntime_backend import cuda_available

    return cuda_available()


def _model_files(model: Path) -> dict[str, Path | None]:
    kind = model_kind(model)
    return {"onnx": model if kind == "onnx" else _sibling(model, ".onnx"),
            "checkpoint": model if kind == "checkpoint" else _sibling(model, ".pt"),
            "engine": model if kind == "engine" else _sibling(model, ".engine")}


def auto_candidates(model: Path) -> list[tuple[str, Path]]:
    """What ``auto`` may use for ``model``, fastest first: (backend name, model file) pairs."""
    files = _model_files(model)
    order = [("tensorrt", "engine", tensorrt_available), ("onnxruntime-cuda", "onnx", ort_cuda_available),
             ("torch-cuda", "checkpoint", torch_cuda_available), ("onnxruntime", "onnx", lambda: True),
             ("torch", "checkpoint", lambda: True)]
    out = []
    for name, need, usable in order:
        path = files[need]
        if path is not None and usable():
            out.append((name, path))
    return out


def resolve_backend(model: Path, backend: str) -> tuple[str, Path]:
    """Pick (backend name, model file) for a request; raises for unknown or unusable choices.

    For ``auto`` this is the first candidate; :func:`open_backend` moves on to the next one when it
    fails to open (a stale TensorRT engine, say).
    """
    return _plan(model, backend)[0]


def _plan(model: Path, backend: str) -> list[tuple[str, Path]]:
    if backend not in BACKENDS:
        raise BackendError(f"unknown backend {backend!r} (choose from {', '.join(BACKENDS)})")
    # A runtime that is not installed is the first thing to say: no model file would help.
    if backend in ("torch", "torch-cuda") and importlib.util.find_spec("torch") is None:
        raise BackendError(f"backend {backend} needs PyTorch, which is not installed: pip install 'hgpose[torch]'")
    if backend == "tensorrt" and not tensorrt_available():
        from engine.gpu.tensorrt_support import unavailable_reason

        raise BackendError(f"backend tensorrt cannot run: {unavailable_reason()}")
    model = require_file(Path(model))
    if backend == "auto":
        candidates = auto_candidates(model)
        if not candidates:
            raise BackendError(f"{model}: a TensorRT engine needs the tensorrt backend and a CUDA GPU, "
                               "and no .onnx or .pt sibling exists to fall back on")
        return candidates
    need = {"onnxruntime": "onnx", "onnxruntime-cuda": "onnx", "torch": "checkpoint",
            "torch-cuda": "checkpoint", "tensorrt": "engine"}[backend]
    path = _model_files(model)[need]
    if path is None:
        ext = {"onnx": ".onnx", "checkpoint": ".pt", "engine": ".engine"}[need]
        raise ModelError(f"backend {backend} needs a {ext} model; {model} is a {model_kind(model)} file and no "
                         f"{model.with_suffix(ext).name} exists beside it")
    return [(backend, path)]


def open_backend(model: Path, backend: str = "auto", warmup: bool = True) -> Backend:
    """Open ``model`` on ``backend`` (see module docstring); warm it up unless told not to.

    With ``auto``, a candidate that fails to open (a TensorRT engine built for another GPU, TensorRT
    version or model; a CUDA library that does not load) is reported as a warning and the next one
    is tried, so a stale engine slows the app down instead of stopping it. The last failure is raised.
    """
    plan = _plan(Path(model), backend)
    fallbacks: list[str] = []
    for i, (name, path) in enumerate(plan):
        impl: Backend | None = None
        try:
            impl = _open(name, path)
            if warmup:
                impl.warmup()
            impl.fallbacks = fallbacks
            return impl
        except Exception as exc:  # any failure of a faster candidate falls back (logged)
            if impl is not None:
                impl.close()  # opened but failed its warm-up: free its session, stream or buffers
            if i == len(plan) - 1:
                raise
            fallbacks.append(f"backend {name} cannot run {path.name} ({exc}); falling back to {plan[i + 1][0]}")
            log.warning("%s", fallbacks[-1])
    raise AssertionError("unreachable: the plan is never empty")


def _open(name: str, path: Path) -> Backend:
    if name in ("onnxruntime", "onnxruntime-cuda"):
        from engine.backends.onnxruntime_backend import OnnxRuntimeBackend

        return OnnxRuntimeBackend(path, device="cuda" if name == "onnxruntime-cuda" else "cpu")
    if name in ("torch", "torch-cuda"):
        if importlib.util.find_spec("torch") is None:
            raise BackendError(f"backend {name} needs PyTorch: pip install 'hgpose[torch]'")
        if name == "torch-cuda":
            from engine.gpu.torch_cuda_backend import TorchCudaBackend

            return TorchCudaBackend(path)
        from engine.backends.torch_backend import TorchBackend

        return TorchBackend(path, device="cpu")
    from engine.gpu.tensorrt_support import unavailable_reason

    reason = unavailable_reason()
    if reason is not None:
        raise BackendError(f"backend tensorrt cannot run: {reason}")
    from engine.gpu.tensorrt_backend import TensorRTBackend

    return TensorRTBackend(path)
