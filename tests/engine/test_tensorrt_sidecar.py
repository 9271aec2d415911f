"""Engine sidecars, their validation and batch profiles: pure Python, runs without TensorRT or a GPU."""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from engine.errors import ConfigError, ModelError
from engine.gpu.engine_sidecar import (
    BatchProfile,
    BuildSettings,
    EngineSidecar,
    RuntimeInfo,
    check_engine,
    parse_batch_profile,
    rebuild_command,
    sha256_bytes,
    sidecar_path,
    write_engine,
)
from engine.metadata import HourglassConfig, ModelMetadata

H100 = RuntimeInfo("10.13.0.35", "NVIDIA H100 80GB HBM3", "9.0")
PLAN = b"\x00serialised-plan\x01" * 64


def _metadata(**changes: object) -> ModelMetadata:
    meta = ModelMetadata(skeleton="lsp14", config=HourglassConfig(num_stacks=1, width=16, num_joints=14,
                                                                  input_size=64, depth=2),
                         name="tiny", precision="fp16")
    return meta.with_updates(**changes)


def _write_onnx(path: Path, meta: ModelMetadata, payload: bytes = b"") -> Path:
    """A minimal ONNX file carrying hgpose metadata (the sidecar checks never run the graph)."""
    import onnx

    graph = onnx.helper.make_graph([], "g", [], [])
    proto = onnx.helper.make_model(graph)
    entry = proto.metadata_props.add()
    entry.key, entry.value = "hgpose", meta.to_json()
    if payload:
        extra = proto.metadata_props.add()
        extra.key, extra.value = "payload", payload.decode()
    onnx.save(proto, str(path))
    return path


@pytest.fixture
def built(tmp_path: Path) -> tuple[Path, Path, EngineSidecar]:
    """An engine + sidecar as build-engine writes them, from an ONNX file in the same folder."""
    onnx_path = _write_onnx(tmp_path / "m16.onnx", _metadata())
    engine = tmp_path / "m.engine"
    sidecar = EngineSidecar(runtime=H100, metadata=_metadata(), precision="fp16",
                            settings=BuildSettings(BatchProfile(1, 8, 64), workspace_gb=2.0,
                                                   timing_cache=str(tmp_path / "h100.timing-cache")),
                            onnx_path=str(onnx_path), onnx_sha256=sha256_bytes(onnx_path.read_bytes()),
                            engine_sha256=sha256_bytes(PLAN), engine_bytes=len(PLAN))
    write_engine(engine, PLAN, sidecar)
    return engine, onnx_path, sidecar


# ---- batch profiles ---------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("1:8:64", (1, 8, 64)), ("8", (8, 8, 8)), (" 2:2:4 ", (2, 2, 4)), ("1:1:1", (1, 1, 1)),
    ("4096", (4096, 4096, 4096)),
])
def test_batch_profile_parses(text: str, expected: tuple[int, int, int]) -> None:
    profile = parse_batch_profile(text)
    assert (profile.min, profile.opt, profile.max) == expected
    assert parse_batch_profile(str(profile)) == profile  # str() round-trips for the rebuild command


@pytest.mark.parametrize("text", ["", "0", "-1", "1:8", "1:8:64:128", "8:4:2", "1:65:64", "2:1:4", "a:b:c",
                                  "1.5", "1:8:64x", "0:1:1", "1:8:5000"])
def test_bad_batch_profiles_are_config_errors(text: str) -> None:
    with pytest.raises(ConfigError, match="batch profile"):
        parse_batch_profile(text)


def test_workspace_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="workspace"):
        BuildSettings(workspace_gb=0)


# ---- writing and reading ------------------------------------------------------------------------

def test_sidecar_records_everything_and_round_trips(built: tuple[Path, Path, EngineSidecar]) -> None:
    engine, onnx_path, sidecar = built
    assert engine.read_bytes() == PLAN
    data = json.loads(sidecar_path(engine).read_text())
    assert sidecar_path(engine).name == "m.engine.json"
    assert data["tensorrt_version"] == "10.13.0.35"
    assert data["gpu_name"] == "NVIDIA H100 80GB HBM3" and data["compute_capability"] == "9.0"
    assert data["input_size"] == 64 and data["skeleton"] == "lsp14" and data["precision"] == "fp16"
    assert data["batch_profile"] == {"min": 1, "opt": 8, "max": 64}
    assert data["onnx_sha256"] == sha256_bytes(onnx_path.read_bytes())
    assert ModelMetadata.from_dict(data["metadata"]) == _metadata()  # the full hgpose metadata
    assert EngineSidecar.from_dict(data) == sidecar


def test_write_engine_refuses_a_sidecar_for_other_bytes(tmp_path: Path,
                                                        built: tuple[Path, Path, EngineSidecar]) -> None:
    with pytest.raises(ValueError, match="does not describe"):
        write_engine(tmp_path / "other.engine", PLAN + b"x", built[2])
    assert not (tmp_path / "other.engine").exists()


def test_valid_engine_passes(built: tuple[Path, Path, EngineSidecar]) -> None:
    engine, _, sidecar = built
    assert check_engine(engine, PLAN, H100) == sidecar


def test_rebuild_command_is_exact_and_quoted(tmp_path: Path) -> None:
    settings = BuildSettings(BatchProfile(1, 4, 16), workspace_gb=1.5, timing_cache="/c/my cache.tc")
    cmd = rebuild_command(tmp_path / "a b.onnx", tmp_path / "a b.engine", settings)
    assert shlex.split(cmd) == ["hgpose", "build-engine", str(tmp_path / "a b.onnx"), "--out",
                                str(tmp_path / "a b.engine"), "--batch", "1:4:16", "--workspace", "1.5",
                                "--timing-cache", "/c/my cache.tc"]
    plain = rebuild_command("m.onnx", Path("m.engine"), BuildSettings())
    assert plain == "hgpose build-engine m.onnx --out m.engine --batch 1:8:64"


# ---- every mismatch is refused with the exact rebuild command --------------------------------------

def _refusal(engine: Path, plan: bytes, runtime: RuntimeInfo) -> str:
    with pytest.raises(ModelError) as info:
        check_engine(engine, plan, runtime)
    return str(info.value)


def _expected_rebuild(engine: Path, onnx_path: Path, sidecar: EngineSidecar) -> str:
    return rebuild_command(onnx_path, engine, sidecar.settings)


@pytest.mark.parametrize(("runtime", "reason"), [
    (RuntimeInfo("10.8.0.43", H100.gpu_name, H100.compute_capability), "built with TensorRT 10.13.0.35, this is "
                                                                        "TensorRT 10.8.0.43"),
    (RuntimeInfo(H100.tensorrt_version, "NVIDIA GeForce RTX 4090", "8.9"), "compute capability 9.0"),
    (RuntimeInfo(H100.tensorrt_version, "NVIDIA H100 PCIe", "9.0"), "built on a NVIDIA H100 80GB HBM3, this GPU is "
                                                                     "a NVIDIA H100 PCIe"),
])
def test_other_machine_is_refused(built: tuple[Path, Path, EngineSidecar], runtime: RuntimeInfo, reason: str) -> None:
    engine, onnx_path, sidecar = built
    message = _refusal(engine, PLAN, runtime)
    assert reason in message
    assert message.endswith(_expected_rebuild(engine, onnx_path, sidecar))


def test_several_mismatches_are_all_named(built: tuple[Path, Path, EngineSidecar]) -> None:
    engine, _, _ = built
    message = _refusal(engine, PLAN, RuntimeInfo("11.0.0.1", "NVIDIA B200", "10.0"))
    assert "TensorRT 11.0.0.1" in message and "compute capability 9.0" in message


def test_engine_replaced_without_its_sidecar_is_refused(built: tuple[Path, Path, EngineSidecar]) -> None:
    engine, onnx_path, sidecar = built
    engine.write_bytes(PLAN[:-1] + b"\x02")  # same size, other bytes
    message = _refusal(engine, engine.read_bytes(), H100)
    assert "not the one its sidecar describes" in message
    assert message.endswith(_expected_rebuild(engine, onnx_path, sidecar))


def test_missing_sidecar_is_refused_with_the_rebuild_command(built: tuple[Path, Path, EngineSidecar]) -> None:
    engine, _, _ = built
    sidecar_path(engine).unlink()
    message = _refusal(engine, PLAN, H100)
    assert "has no sidecar m.engine.json" in message
    assert message.endswith(f"hgpose build-engine {engine.with_suffix('.onnx')} --out {engine} --batch 1:8:64")


@pytest.mark.parametrize("corrupt", [
    lambda d: "{not json",
    lambda d: json.dumps([1, 2]),
    lambda d: json.dumps({**d, "format": "something-else"}),
    lambda d: json.dumps({**d, "format_version": 99}),
    lambda d: json.dumps({k: v for k, v in d.items() if k != "gpu_name"}),
    lambda d: json.dumps({**d, "batch_profile": {"min": 8, "opt": 1, "max": 1}}),
    lambda d: json.dumps({**d, "input_size": 128}),
    lambda d: json.dumps({**d, "metadata": {**d["metadata"], "skeleton": "coco17"}}),
])
def test_malformed_sidecar_is_refused(built: tuple[Path, Path, EngineSidecar],
                                     corrupt: Callable[[dict[str, Any]], str]) -> None:
    engine, _, _ = built
    path = sidecar_path(engine)
    path.write_text(corrupt(json.loads(path.read_text())))
    message = _refusal(engine, PLAN, H100)
    assert "rebuild the engine with: hgpose build-engine" in message


def test_re_exported_source_onnx_is_refused(built: tuple[Path, Path, EngineSidecar]) -> None:
    engine, onnx_path, sidecar = built
    _write_onnx(onnx_path, _metadata(), payload=b"retrained")
    message = _refusal(engine, PLAN, H100)
    assert f"{onnx_path} has changed since the engine was built from it" in message
    assert message.endswith(_expected_rebuild(engine, onnx_path, sidecar))


def test_another_model_beside_the_engine_is_refused(built: tuple[Path, Path, EngineSidecar]) -> None:
    engine, onnx_path, _ = built
    onnx_path.unlink()  # the recorded source is gone (engine copied elsewhere) ...
    _write_onnx(engine.with_suffix(".onnx"), _metadata(name="another"))  # ... and m.onnx is another model
    message = _refusal(engine, PLAN, H100)
    assert "it holds another model than m.onnx beside it" in message
    assert f"hgpose build-engine {engine.with_suffix('.onnx')} --out {engine}" in message


def test_fp32_export_of_the_same_model_beside_the_engine_is_accepted(
        built: tuple[Path, Path, EngineSidecar]) -> None:
    engine, onnx_path, sidecar = built
    onnx_path.unlink()
    _write_onnx(engine.with_suffix(".onnx"), _metadata(precision="fp32"))
    assert check_engine(engine, PLAN, H100) == sidecar


def test_engine_without_any_source_onnx_is_checked_on_the_rest(built: tuple[Path, Path, EngineSidecar]) -> None:
    engine, onnx_path, sidecar = built
    onnx_path.unlink()
    assert check_engine(engine, PLAN, H100) == sidecar
