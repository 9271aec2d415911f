"""Choosing and opening a backend by name, including ``auto``.

Names: ``auto``, ``onnxruntime`` (CPU), ``onnxruntime-cuda``, ``torch`` (CPU), ``torch-cuda``,
``tensorrt``. ``auto`` picks the fastest available: a TensorRT engine, then ONNX Runtime on CUDA,
then torch on CUDA, then ONNX Runtime on the CPU (then torch on the CPU for a lone checkpoint).

A model path may name any of the model's files; siblings with the same stem and another extension
(``m.onnx``, ``m.int8.onnx``, ``m.pt``, ``m.engine``) are used when the chosen backend needs them.

Precision (``auto``, ``fp32``, ``int8``): ``auto`` runs ONNX Runtime on the CPU with the INT8 file
``m.int8.onnx`` when it exists (about 2x faster a crop, PCK within 0.01; see ``engine.quantize``)
and the FP32 file otherwise; GPU backends keep their own files. ``fp32`` excludes INT8 files and
TensorRT engines; ``int8`` means ONNX Runtime on the CPU with the INT8 file.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
from pathlib import Path

from engine.backends.base import Backend
from engine.errors import BackendError, ModelError
from engine.model_file import int8_sibling, is_int8_onnx, model_base, model_kind, require_file, stale_int8_reason

log = logging.getLogger(__name__)

BACKENDS = ("auto", "onnxruntime", "onnxruntime-cuda", "torch", "torch-cuda", "tensorrt")
PRECISIONS = ("auto", "fp32", "int8")


def _sibling(path: Path, suffix: str) -> Path | None:
    base = model_base(path)
    cand = base.with_name(base.name + suffix)
    return cand if cand.is_file() else None


def tensorrt_available() -> bool:
    """True when a usable TensorRT runtime (not just its type stubs, recent enough) and torch CUDA exist."""
    from engine.gpu.tensorrt_support import unavailable_reason

    return unavailable_reason() is None


def no_nvidia_driver() -> bool:
    """True where no NVIDIA driver can exist (Linux without its kernel driver or WSL's GPU device):
    a free answer, where asking torch costs its import (1-3 s, more under load) on every CPU start."""
    return sys.platform.startswith("linux") and not (Path("/proc/driver/nvidia").exists()
                                                     or Path("/dev/dxg").exists())


def torch_cuda_available() -> bool:
    if no_nvidia_driver() or importlib.util.find_spec("torch") is None:
        return False
    import torch

    return torch.cuda.is_available()


def ort_cuda_available() -> bool:
    from engine.backends.onnxruntime_backend import cuda_available

    return cuda_available()


def _model_files(model: Path, precision: str = "auto") -> dict[str, Path | None]:
    """The model's files by role. ``onnx`` is the FP32 (or FP16) file GPU backends run; ``cpu-onnx``
    is the file ONNX Runtime on the CPU runs at ``precision``."""
    kind = model_kind(model)
    int8 = model if is_int8_onnx(model) else _sibling(model, ".int8.onnx")
    onnx = _sibling(model, ".onnx") if kind == "onnx" and int8 == model else (
        model if kind == "onnx" else _sibling(model, ".onnx"))
    cpu_onnx = {"auto": int8 or onnx, "fp32": onnx, "int8": int8}[precision]
    return {"onnx": onnx, "cpu-onnx": cpu_onnx,
            "checkpoint": model if kind == "checkpoint" else _sibling(model, ".pt"),
            "engine": model if kind == "engine" else _sibling(model, ".engine")}


# Backend -> the file role it runs; and which precisions each backend can serve.
_NEEDS = {"onnxruntime": "cpu-onnx", "onnxruntime-cuda": "onnx", "torch": "checkpoint",
          "torch-cuda": "checkpoint", "tensorrt": "engine"}
_SERVES = {"onnxruntime": ("auto", "fp32", "int8"), "onnxruntime-cuda": ("auto", "fp32"),
           "torch": ("auto", "fp32"), "torch-cuda": ("auto", "fp32"), "tensorrt": ("auto",)}


def auto_candidates(model: Path, precision: str = "auto") -> list[tuple[str, Path]]:
    """What ``auto`` may use for ``model`` at ``precision``, fastest first: (backend name, file) pairs."""
    files = _model_files(model, precision)
    order = [("tensorrt", tensorrt_available), ("onnxruntime-cuda", ort_cuda_available),
             ("torch-cuda", torch_cuda_available), ("onnxruntime", lambda: True), ("torch", lambda: True)]
    out = []
    for name, usable in order:
        path = files[_NEEDS[name]]
        if path is not None and precision in _SERVES[name] and usable():
            out.extend(_with_fp32_fallback(name, path, files, _implicit_int8(model, precision)))
    return out


def _implicit_int8(model: Path, precision: str) -> bool:
    """Whether an INT8 file would be the user's choice made for them: ``auto`` precision, and not
    an INT8 file named as the model."""
    return precision == "auto" and not is_int8_onnx(Path(model))


def _with_fp32_fallback(name: str, path: Path, files: dict[str, Path | None],
                        implicit_int8: bool) -> list[tuple[str, Path]]:
    """An INT8 file that ``auto`` precision picked by itself is followed by the FP32 file, which
    runs instead when the INT8 one turns out stale (see :func:`open_backend`)."""
    if name == "onnxruntime" and implicit_int8 and is_int8_onnx(path) and files["onnx"] is not None:
        return [(name, path), (name, files["onnx"])]
    return [(name, path)]


def resolve_backend(model: Path, backend: str, precision: str = "auto") -> tuple[str, Path]:
    """Pick (backend name, model file) for a request; raises for unknown or unusable choices.

    For ``auto`` this is the first candidate; :func:`open_backend` moves on to the next one when it
    fails to open (a stale TensorRT engine, say).
    """
    return _plan(model, backend, precision)[0]


def _plan(model: Path, backend: str, precision: str = "auto") -> list[tuple[str, Path]]:
    if backend not in BACKENDS:
        raise BackendError(f"unknown backend {backend!r} (choose from {', '.join(BACKENDS)})")
    # A runtime that is not installed is the first thing to say: no model file would help.
    if backend in ("torch", "torch-cuda") and importlib.util.find_spec("torch") is None:
        raise BackendError(f"backend {backend} needs PyTorch, which is not installed: pip install 'hgpose[torch]'")
    if backend == "tensorrt" and not tensorrt_available():
        from engine.gpu.tensorrt_support import unavailable_reason

        raise BackendError(f"backend tensorrt cannot run: {unavailable_reason()}")
    if precision not in PRECISIONS:
        raise BackendError(f"unknown precision {precision!r} (choose from {', '.join(PRECISIONS)})")
    model = require_file(Path(model))
    if backend == "auto":
        candidates = auto_candidates(model, precision)
        if not candidates:
            if precision != "auto":
                raise ModelError(f"{model}: no {precision.upper()} file of this model exists here"
                                 + (f" (expected {int8_sibling(model).name}; make it with `hgpose export "
                                    "--int8`)" if precision == "int8" else ""))
            raise BackendError(f"{model}: a TensorRT engine needs the tensorrt backend and a CUDA GPU, "
                               "and no .onnx or .pt sibling exists to fall back on")
        return candidates
    if precision not in _SERVES[backend]:
        raise BackendError(f"backend {backend} cannot run precision {precision}"
                           + (" (INT8 runs on the onnxruntime CPU backend)" if precision == "int8" else
                              " (a TensorRT engine runs the precision it was built with)"))
    need = _NEEDS[backend]
    files = _model_files(model, precision)
    path = files[need]
    if path is None:
        ext = {"onnx": ".onnx", "cpu-onnx": ".int8.onnx" if precision == "int8" else ".onnx",
               "checkpoint": ".pt", "engine": ".engine"}[need]
        want = model_base(model).name + ext
        hint = "; make it with `hgpose export --int8`" if ext == ".int8.onnx" else ""
        raise ModelError(f"backend {backend} needs a {ext} model; {model} is a {model_kind(model)} file and no "
                         f"{want} exists beside it{hint}")
    return _with_fp32_fallback(backend, path, files, _implicit_int8(model, precision))


def open_backend(model: Path, backend: str = "auto", warmup: bool = True, precision: str = "auto",
                 spinning: bool | None = None) -> Backend:
    """Open ``model`` on ``backend`` at ``precision`` (see module docstring); warm it up unless told not to.

    ``spinning`` sets ONNX Runtime's intra-op thread spinning on the CPU (``None``: ONNX Runtime's
    default); other backends ignore it.

    With ``auto``, a candidate that fails to open (a TensorRT engine built for another GPU, TensorRT
    version or model; a CUDA library that does not load) is reported as a warning and the next one
    is tried, so a stale engine slows the app down instead of stopping it. The last failure is raised.
    """
    plan = _plan(Path(model), backend, precision)
    # INT8 chosen for the user (not named by them, not asked for) must come from the FP32 file.
    implicit_int8 = _implicit_int8(Path(model), precision)
    fallbacks: list[str] = []
    for i, (name, path) in enumerate(plan):
        impl: Backend | None = None
        try:
            impl = _open(name, path, spinning)
            if implicit_int8 and is_int8_onnx(path):
                stale = stale_int8_reason(impl.metadata, _sibling(path, ".onnx"))
                if stale is not None:
                    raise ModelError(stale)
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


def _open(name: str, path: Path, spinning: bool | None = None) -> Backend:
    if name in ("onnxruntime", "onnxruntime-cuda"):
        from engine.backends.onnxruntime_backend import OnnxRuntimeBackend

        if name == "onnxruntime-cuda":
            return OnnxRuntimeBackend(path, device="cuda")
        return OnnxRuntimeBackend(path, device="cpu", spinning=spinning)
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
