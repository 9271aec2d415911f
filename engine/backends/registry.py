"""Choosing and opening a backend by name, including ``auto``.

Names: ``auto``, ``onnxruntime`` (CPU), ``onnxruntime-cuda``, ``torch`` (CPU), ``torch-cuda``,
``tensorrt``. ``auto`` picks the fastest available: a TensorRT engine, then ONNX Runtime on CUDA,
then torch on CUDA, then ONNX Runtime on the CPU (then torch on the CPU for a lone checkpoint).

A model path may name any of the model's files; siblings with the same stem and another extension
(``m.onnx``, ``m.pt``, ``m.engine``) are used when the chosen backend needs them.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from engine.backends.base import Backend
from engine.errors import BackendError, ModelError
from engine.model_file import model_kind, require_file

BACKENDS = ("auto", "onnxruntime", "onnxruntime-cuda", "torch", "torch-cuda", "tensorrt")


def _sibling(path: Path, suffix: str) -> Path | None:
    cand = path.with_suffix(suffix)
    return cand if cand.is_file() else None


def tensorrt_available() -> bool:
    """True when the TensorRT runtime (not just its type stubs) and torch CUDA are importable."""
    if importlib.util.find_spec("tensorrt") is None:
        return False
    try:
        import tensorrt
        import torch
    except ImportError:
        return False
    return hasattr(tensorrt, "Runtime") and torch.cuda.is_available()


def torch_cuda_available() -> bool:
    if importlib.util.find_spec("torch") is None:
        return False
    import torch

    return torch.cuda.is_available()


def ort_cuda_available() -> bool:
    from engine.backends.onnxruntime_backend import cuda_available

    return cuda_available()


def resolve_backend(model: Path, backend: str) -> tuple[str, Path]:
    """Pick (backend name, model file) for a request; raises for unknown or unusable choices."""
    if backend not in BACKENDS:
        raise BackendError(f"unknown backend {backend!r} (choose from {', '.join(BACKENDS)})")
    model = require_file(Path(model))
    kind = model_kind(model)
    files = {"onnx": model if kind == "onnx" else _sibling(model, ".onnx"),
             "checkpoint": model if kind == "checkpoint" else _sibling(model, ".pt"),
             "engine": model if kind == "engine" else _sibling(model, ".engine")}
    if backend == "auto":
        if files["engine"] and tensorrt_available():
            return "tensorrt", files["engine"]
        if files["onnx"] and ort_cuda_available():
            return "onnxruntime-cuda", files["onnx"]
        if files["checkpoint"] and torch_cuda_available():
            return "torch-cuda", files["checkpoint"]
        if files["onnx"]:
            return "onnxruntime", files["onnx"]
        if files["checkpoint"]:
            return "torch", files["checkpoint"]
        raise BackendError(f"{model}: a TensorRT engine needs the tensorrt backend and a CUDA GPU, "
                           "and no .onnx or .pt sibling exists to fall back on")
    need = {"onnxruntime": "onnx", "onnxruntime-cuda": "onnx", "torch": "checkpoint",
            "torch-cuda": "checkpoint", "tensorrt": "engine"}[backend]
    path = files[need]
    if path is None:
        ext = {"onnx": ".onnx", "checkpoint": ".pt", "engine": ".engine"}[need]
        raise ModelError(f"backend {backend} needs a {ext} model; {model} is a {kind} file and no "
                         f"{model.with_suffix(ext).name} exists beside it")
    return backend, path


def open_backend(model: Path, backend: str = "auto", warmup: bool = True) -> Backend:
    """Open ``model`` on ``backend`` (see module docstring); warm it up unless told not to."""
    name, path = resolve_backend(Path(model), backend)
    impl: Backend
    if name in ("onnxruntime", "onnxruntime-cuda"):
        from engine.backends.onnxruntime_backend import OnnxRuntimeBackend

        impl = OnnxRuntimeBackend(path, device="cuda" if name == "onnxruntime-cuda" else "cpu")
    elif name in ("torch", "torch-cuda"):
        if importlib.util.find_spec("torch") is None:
            raise BackendError(f"backend {name} needs PyTorch: pip install 'hgpose[torch]'")
        if name == "torch-cuda":
            from engine.backends.torch_cuda_backend import TorchCudaBackend

            impl = TorchCudaBackend(path)
        else:
            from engine.backends.torch_backend import TorchBackend

            impl = TorchBackend(path, device="cpu")
    else:
        if not tensorrt_available():
            raise BackendError("backend tensorrt needs the TensorRT runtime and a CUDA GPU; "
                               "see the README's GPU section")
        from engine.backends.tensorrt_backend import TensorRTBackend

        impl = TensorRTBackend(path)
    if warmup:
        impl.warmup()
    return impl
