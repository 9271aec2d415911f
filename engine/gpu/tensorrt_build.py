"""Building a TensorRT engine from an exported ONNX model (TensorRT 10.x and 11.x).

The network is *strongly typed*: every tensor keeps the type the ONNX graph gives it, so the FP16
export (FP16 weights and compute, float32 ``input`` and ``heatmaps`` with casts at the edges) runs
in FP16 without precision flags. On 10.x that needs ``NetworkDefinitionCreationFlag.STRONGLY_TYPED``;
on 11.x it is the default (and ``BuilderFlag.FP16`` no longer exists), so the flag is looked up by
name and never ``BuilderFlag.FP16`` is used.

Tensors: ``input`` (N, 3, S, S) float32 with N in the batch profile -> ``heatmaps`` (N, K, S/4, S/4)
float32.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import tensorrt as trt

from engine.atomic import atomic_path
from engine.errors import ModelError, OutputError
from engine.gpu.engine_sidecar import (
    BuildSettings,
    EngineSidecar,
    sha256_bytes,
    write_engine,
)
from engine.gpu.tensorrt_support import current_runtime_info, logged_errors, make_logger, require_tensorrt
from engine.model_file import read_onnx_metadata, require_file

INPUT_NAME = "input"
OUTPUT_NAME = "heatmaps"


@dataclass(frozen=True)
class BuildReport:
    engine: Path
    sidecar: EngineSidecar
    timing_cache_entries_loaded: bool
    strongly_typed_flag: bool


def network_flags() -> tuple[int, bool]:
    """Creation flags for a strongly typed network, and whether the flag had to be set.

    TensorRT 10.x has ``STRONGLY_TYPED`` (off by default); on 11.x strong typing is the default and
    the flag may be gone, so it is looked up by name rather than referenced.
    """
    flag = getattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED", None)
    if flag is None:
        return 0, False
    return 1 << int(flag), True


def _parse_onnx(network: trt.INetworkDefinition, logger: trt.ILogger, onnx_bytes: bytes, path: Path) -> None:
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_bytes, str(path)):
        errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
        raise ModelError(f"{path}: TensorRT cannot parse it: {'; '.join(errors) or logged_errors(logger)}")
    names_in = [network.get_input(i).name for i in range(network.num_inputs)]
    names_out = [network.get_output(i).name for i in range(network.num_outputs)]
    if names_in != [INPUT_NAME] or names_out != [OUTPUT_NAME]:
        raise ModelError(f"{path}: expected one input {INPUT_NAME!r} and one output {OUTPUT_NAME!r}, "
                         f"got {names_in} -> {names_out}; export it with `hgpose export --fp16`")


def _load_timing_cache(config: trt.IBuilderConfig, path: Path | None) -> bool:
    """Attach a timing cache (from ``path`` if it exists); True when entries were loaded."""
    data = path.read_bytes() if path is not None and path.is_file() else b""
    cache = config.create_timing_cache(data)
    # ignore_mismatch=False: a cache from another GPU or TensorRT version is rejected, not trusted.
    if not config.set_timing_cache(cache, False) and data:
        raise ModelError(f"timing cache {path} was made by another GPU or TensorRT version; delete it and rebuild")
    return bool(data)


def _save_timing_cache(config: trt.IBuilderConfig, path: Path) -> None:
    data = bytes(config.get_timing_cache().serialize())
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def build_engine(onnx: Path, out: Path, settings: BuildSettings) -> BuildReport:
    """Build ``out`` (+ ``out.json`` sidecar) from ``onnx`` on the current CUDA device.

    Raises:
        BackendError: TensorRT or CUDA is not available.
        ModelError: the ONNX file is missing, lacks hgpose metadata, or TensorRT cannot build it.
    """
    require_tensorrt("building a TensorRT engine")
    onnx = require_file(Path(onnx)).resolve()
    meta = read_onnx_metadata(onnx)
    onnx_bytes = onnx.read_bytes()
    s, batch = meta.input_size, settings.batch

    logger = make_logger()
    builder = trt.Builder(logger)
    flags, strongly_typed_flag = network_flags()
    network = builder.create_network(flags)
    _parse_onnx(network, logger, onnx_bytes, onnx)

    config = builder.create_builder_config()
    if settings.workspace_gb is not None:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(settings.workspace_gb * (1 << 30)))
    profile = builder.create_optimization_profile()
    profile.set_shape(INPUT_NAME, trt.Dims([batch.min, 3, s, s]), trt.Dims([batch.opt, 3, s, s]),
                      trt.Dims([batch.max, 3, s, s]))
    if config.add_optimization_profile(profile) < 0:
        raise ModelError(f"{onnx}: TensorRT rejected the batch profile {batch} ({logged_errors(logger)})")
    cache_path = Path(settings.timing_cache) if settings.timing_cache is not None else None
    loaded = _load_timing_cache(config, cache_path)

    plan_memory = builder.build_serialized_network(network, config)
    if plan_memory is None:
        raise ModelError(f"{onnx}: TensorRT could not build an engine ({logged_errors(logger)})")
    plan = bytes(plan_memory)
    if cache_path is not None:
        _save_timing_cache(config, cache_path)

    sidecar = EngineSidecar(runtime=current_runtime_info(), metadata=meta, precision=meta.precision,
                            settings=settings, onnx_path=str(onnx), onnx_sha256=sha256_bytes(onnx_bytes),
                            engine_sha256=sha256_bytes(plan), engine_bytes=len(plan))
    try:
        write_engine(Path(out), plan, sidecar)
    except OSError as exc:
        raise OutputError(f"cannot write {out} ({exc.strerror or exc})") from None
    return BuildReport(Path(out), sidecar, loaded, strongly_typed_flag)
