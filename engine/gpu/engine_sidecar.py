"""TensorRT engine sidecars: what an engine was built from and for, and checks before loading it.

A TensorRT plan runs only with the TensorRT version and the GPU it was built for, and only means
something together with the model it came from. ``hgpose build-engine`` therefore writes
``<name>.engine.json`` beside every ``<name>.engine``; the runtime refuses an engine whose sidecar
is missing, does not describe that engine file, or was made for another GPU, compute capability,
TensorRT version or model, and says which command rebuilds it.

Pure Python: no tensorrt, no torch, so it is testable anywhere.
"""

from __future__ import annotations

import hashlib
import json
import shlex
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from engine.atomic import atomic_path
from engine.errors import ConfigError, ModelError
from engine.metadata import ModelMetadata
from engine.model_file import file_sha256

SIDECAR_FORMAT = "hgpose-tensorrt-engine"
SIDECAR_VERSION = 1
MAX_BATCH = 4096  # far above any useful profile; catches typos such as 1:8:6400


@dataclass(frozen=True)
class BatchProfile:
    """TensorRT optimisation profile for the batch dimension N of ``input`` (N, 3, S, S).

    TensorRT accepts any N in [min, max] and tunes its kernels for ``opt``.
    """

    min: int
    opt: int
    max: int

    def __post_init__(self) -> None:
        if not 1 <= self.min <= self.opt <= self.max <= MAX_BATCH:
            raise ConfigError(f"batch profile must satisfy 1 <= MIN <= OPT <= MAX <= {MAX_BATCH}, "
                              f"got {self.min}:{self.opt}:{self.max}")

    def __str__(self) -> str:
        return f"{self.min}:{self.opt}:{self.max}"


DEFAULT_BATCH_PROFILE = BatchProfile(1, 8, 64)


def parse_batch_profile(text: str) -> BatchProfile:
    """``"MIN:OPT:MAX"`` (e.g. ``"1:8:64"``) or ``"N"``, a fixed batch (``N:N:N``)."""
    parts = str(text).strip().split(":")
    if len(parts) not in (1, 3):
        raise ConfigError(f"batch profile {text!r} must be MIN:OPT:MAX (e.g. 1:8:64) or one batch size N")
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise ConfigError(f"batch profile {text!r} must contain whole numbers, e.g. 1:8:64") from None
    if len(values) == 1:
        values *= 3
    return BatchProfile(*values)


@dataclass(frozen=True)
class RuntimeInfo:
    """What an engine is tied to: the TensorRT version and the GPU (name, compute capability "8.6")."""

    tensorrt_version: str
    gpu_name: str
    compute_capability: str


@dataclass(frozen=True)
class BuildSettings:
    """The ``hgpose build-engine`` options that shape the engine, recorded to rebuild it identically."""

    batch: BatchProfile = DEFAULT_BATCH_PROFILE
    workspace_gb: float | None = None
    timing_cache: str | None = None

    def __post_init__(self) -> None:
        if self.workspace_gb is not None and not self.workspace_gb > 0:
            raise ConfigError(f"workspace must be a positive number of GB, got {self.workspace_gb}")


@dataclass(frozen=True)
class EngineSidecar:
    """The JSON document beside an engine (``<engine>.json``).

    Attributes:
        runtime: TensorRT version and GPU the engine was built with and for.
        metadata: the full hgpose model metadata (skeleton, input size, normalisation, ...).
        precision: ``"fp16"`` or ``"fp32"``: the ONNX graph's compute type (strongly typed build).
        settings: batch profile, workspace and timing cache used for the build.
        onnx_path: the source ONNX file, absolute, as given to build-engine.
        onnx_sha256: SHA-256 of the source ONNX file.
        engine_sha256: SHA-256 of the serialised engine the sidecar describes.
        engine_bytes: size of that engine file.
    """

    runtime: RuntimeInfo
    metadata: ModelMetadata
    precision: str
    settings: BuildSettings
    onnx_path: str
    onnx_sha256: str
    engine_sha256: str
    engine_bytes: int

    @property
    def input_size(self) -> int:
        return self.metadata.input_size

    @property
    def skeleton(self) -> str:
        return self.metadata.skeleton

    def to_dict(self) -> dict[str, Any]:
        # input_size and skeleton are duplicated at the top level so people (and scripts) can read
        # them without knowing the metadata schema.
        return {
            "format": SIDECAR_FORMAT,
            "format_version": SIDECAR_VERSION,
            "tensorrt_version": self.runtime.tensorrt_version,
            "gpu_name": self.runtime.gpu_name,
            "compute_capability": self.runtime.compute_capability,
            "input_size": self.input_size,
            "skeleton": self.skeleton,
            "precision": self.precision,
            "batch_profile": asdict(self.settings.batch),
            "workspace_gb": self.settings.workspace_gb,
            "timing_cache": self.settings.timing_cache,
            "onnx_path": self.onnx_path,
            "onnx_sha256": self.onnx_sha256,
            "engine_sha256": self.engine_sha256,
            "engine_bytes": self.engine_bytes,
            "metadata": self.metadata.to_dict(),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EngineSidecar:
        """Parse a sidecar; ``ModelError`` if it is not one or is malformed."""
        if data.get("format") != SIDECAR_FORMAT:
            raise ModelError("not an hgpose engine sidecar (no \"format\": \"hgpose-tensorrt-engine\")")
        version = data.get("format_version")
        if not isinstance(version, int) or version > SIDECAR_VERSION:
            raise ModelError(f"engine sidecar format {version!r} is not one this hgpose reads "
                             f"(up to {SIDECAR_VERSION})")
        try:
            meta = ModelMetadata.from_dict(dict(data["metadata"]))
            sidecar = cls(
                runtime=RuntimeInfo(str(data["tensorrt_version"]), str(data["gpu_name"]),
                                    str(data["compute_capability"])),
                metadata=meta,
                precision=str(data["precision"]),
                settings=BuildSettings(
                    batch=BatchProfile(**{k: int(v) for k, v in dict(data["batch_profile"]).items()}),
                    workspace_gb=None if data.get("workspace_gb") is None else float(data["workspace_gb"]),
                    timing_cache=None if data.get("timing_cache") is None else str(data["timing_cache"]),
                ),
                onnx_path=str(data["onnx_path"]),
                onnx_sha256=str(data["onnx_sha256"]),
                engine_sha256=str(data["engine_sha256"]),
                engine_bytes=int(data["engine_bytes"]),
            )
        except ConfigError as exc:
            raise ModelError(f"engine sidecar is malformed ({exc})") from None
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"engine sidecar is malformed ({exc.__class__.__name__}: {exc})") from None
        # The duplicated top-level fields must agree with the metadata, or someone edited one.
        if data.get("input_size") != meta.input_size or data.get("skeleton") != meta.skeleton:
            raise ModelError("engine sidecar is inconsistent: its input_size/skeleton differ from its metadata")
        return sidecar


def sidecar_path(engine: Path) -> Path:
    """``model.engine`` -> ``model.engine.json``."""
    engine = Path(engine)
    return engine.with_name(engine.name + ".json")


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def rebuild_command(onnx: Path | str, engine: Path, settings: BuildSettings) -> str:
    """The exact ``hgpose build-engine`` command line that rebuilds ``engine`` from ``onnx``."""
    argv = ["hgpose", "build-engine", str(onnx), "--out", str(engine), "--batch", str(settings.batch)]
    if settings.workspace_gb is not None:
        argv += ["--workspace", f"{settings.workspace_gb:g}"]
    if settings.timing_cache is not None:
        argv += ["--timing-cache", settings.timing_cache]
    return shlex.join(argv)


def write_engine(engine: Path, plan: bytes, sidecar: EngineSidecar) -> None:
    """Write the serialised engine and its sidecar, each atomically.

    The sidecar goes last: a crash in between leaves a new engine with the old (or no) sidecar,
    which :func:`check_engine` refuses by hash instead of running a mismatched pair.
    """
    if sidecar.engine_sha256 != sha256_bytes(plan) or sidecar.engine_bytes != len(plan):
        raise ValueError("sidecar does not describe the engine being written")
    engine = Path(engine)
    with atomic_path(engine) as tmp:
        tmp.write_bytes(plan)
    with atomic_path(sidecar_path(engine)) as tmp:
        tmp.write_text(sidecar.to_json(), encoding="utf-8")


def read_sidecar(engine: Path) -> EngineSidecar:
    """The sidecar of ``engine``; ``ModelError`` (with the rebuild command) if missing or unreadable."""
    engine = Path(engine)
    path = sidecar_path(engine)
    rebuild = rebuild_command(engine.with_suffix(".onnx"), engine, BuildSettings())
    if not path.is_file():
        raise ModelError(f"{engine} has no sidecar {path.name}, so its model, GPU and TensorRT version are "
                         f"unknown; rebuild it from its FP16 ONNX with: {rebuild}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path} cannot be read ({exc.__class__.__name__}); rebuild the engine with: "
                         f"{rebuild}") from None
    if not isinstance(data, dict):
        raise ModelError(f"{path} is not a JSON object; rebuild the engine with: {rebuild}")
    try:
        return EngineSidecar.from_dict(data)
    except ModelError as exc:
        raise ModelError(f"{path}: {exc}; rebuild the engine with: {rebuild}") from None


def engine_mismatches(sidecar: EngineSidecar, engine_plan: bytes, runtime: RuntimeInfo) -> list[str]:
    """Reasons the engine file cannot run here, empty when it can.

    Args:
        engine_plan: the bytes of the engine file (hashed and compared with the sidecar).
        runtime: this machine's TensorRT version and GPU.
    """
    reasons = []
    if len(engine_plan) != sidecar.engine_bytes or sha256_bytes(engine_plan) != sidecar.engine_sha256:
        reasons.append("the engine file is not the one its sidecar describes (rebuilt or replaced separately)")
    built, here = sidecar.runtime, runtime
    if built.tensorrt_version != here.tensorrt_version:
        reasons.append(f"it was built with TensorRT {built.tensorrt_version}, this is TensorRT {here.tensorrt_version}")
    if built.compute_capability != here.compute_capability:
        reasons.append(f"it was built for compute capability {built.compute_capability} "
                       f"({built.gpu_name}), this GPU is {here.compute_capability} ({here.gpu_name})")
    elif built.gpu_name != here.gpu_name:
        reasons.append(f"it was built on a {built.gpu_name}, this GPU is a {here.gpu_name}")
    return reasons


def model_mismatch(engine: Path, sidecar: EngineSidecar) -> str | None:
    """Why the engine no longer holds the model it should, or None.

    The ONNX file recorded at build time, if it still exists, must be byte-identical (a re-export
    makes the engine stale). Otherwise an ONNX file beside the engine (same stem) must carry the
    same metadata, precision aside: ``m.engine`` may come from an FP16 export while ``m.onnx`` is
    the FP32 one. With neither file present there is nothing to compare.
    """
    source = Path(sidecar.onnx_path)
    if source.is_file():
        if file_sha256(source) != sidecar.onnx_sha256:
            return f"{source} has changed since the engine was built from it"
        return None
    sibling = Path(engine).with_suffix(".onnx")
    if sibling.is_file():
        from engine.model_file import read_onnx_metadata

        beside = read_onnx_metadata(sibling)
        if beside.with_updates(precision="") != sidecar.metadata.with_updates(precision=""):
            return f"it holds another model than {sibling.name} beside it"
    return None


def source_onnx(engine: Path, sidecar: EngineSidecar) -> Path:
    """The ONNX file to rebuild from: the recorded source if it exists, else the one beside the engine."""
    source = Path(sidecar.onnx_path)
    return source if source.is_file() else Path(engine).with_suffix(".onnx")


def check_engine(engine: Path, engine_plan: bytes, runtime: RuntimeInfo) -> EngineSidecar:
    """Read and validate the sidecar of ``engine`` before deserialising ``engine_plan``.

    Raises:
        ModelError: the sidecar is missing or malformed, or the engine was built for another GPU,
            compute capability, TensorRT version or model; the message ends with the exact
            ``hgpose build-engine`` command that rebuilds it.
    """
    engine = Path(engine)
    sidecar = read_sidecar(engine)
    reasons = engine_mismatches(sidecar, engine_plan, runtime)
    model = model_mismatch(engine, sidecar)
    if model is not None:
        reasons.append(model)
    if reasons:
        rebuild = rebuild_command(source_onnx(engine, sidecar), engine, sidecar.settings)
        raise ModelError(f"{engine} cannot be used here: {'; '.join(reasons)}. Rebuild it on this machine "
                         f"with: {rebuild}")
    return sidecar
