"""build-engine and the TensorRT backend end to end; every test skips without TensorRT and a GPU."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from engine.gpu.tensorrt_support import unavailable_reason

pytestmark = [pytest.mark.tensorrt, pytest.mark.gpu,
              pytest.mark.skipif(unavailable_reason() is not None, reason=str(unavailable_reason()))]

torch = pytest.importorskip("torch")

from gpu_fixtures import assert_infer_close, clip_frames, frame_boxes, joint_agreement  # noqa: E402

from engine.backends.base import Backend  # noqa: E402
from engine.backends.registry import open_backend  # noqa: E402
from engine.commands.build_engine import main as build_engine_main  # noqa: E402
from engine.errors import ModelError  # noqa: E402
from engine.gpu.cuda_graphs import GraphPolicy  # noqa: E402
from engine.gpu.engine_sidecar import sidecar_path  # noqa: E402

BATCH = "1:4:8"  # a small profile so the tests cover splitting batches above its maximum


@pytest.fixture(scope="module")
def built(tiny_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(engine, FP16 ONNX, timing cache) built through the command line."""
    from engine.export import export_onnx

    folder = tmp_path_factory.mktemp("trt")
    onnx16 = folder / "m16.onnx"
    export_onnx(tiny_checkpoint, onnx16, fp16=True)
    engine, cache = folder / "m.engine", folder / "m.timing-cache"
    assert build_engine_main([str(onnx16), "--out", str(engine), "--batch", BATCH, "--workspace", "1",
                              "--timing-cache", str(cache)]) == 0
    return engine, onnx16, cache


@pytest.fixture(scope="module")
def trt_backend(built: tuple[Path, Path, Path]) -> Iterator[Backend]:
    backend = open_backend(built[0], "tensorrt")
    yield backend
    backend.close()


@pytest.fixture(scope="module")
def ort_fp16(built: tuple[Path, Path, Path]) -> Backend:
    return open_backend(built[1], "onnxruntime")


def test_build_writes_engine_sidecar_and_timing_cache(built: tuple[Path, Path, Path]) -> None:
    from engine.gpu.tensorrt_support import current_runtime_info

    engine, onnx16, cache = built
    assert engine.is_file() and cache.is_file() and cache.stat().st_size > 0
    data = json.loads(sidecar_path(engine).read_text())
    here = current_runtime_info()
    assert (data["tensorrt_version"], data["gpu_name"], data["compute_capability"]) == (
        here.tensorrt_version, here.gpu_name, here.compute_capability)
    assert data["precision"] == "fp16" and data["input_size"] == 64 and data["skeleton"] == "lsp14"
    assert data["batch_profile"] == {"min": 1, "opt": 4, "max": 8}
    assert data["onnx_path"] == str(onnx16.resolve())


def test_rebuild_reuses_the_timing_cache(built: tuple[Path, Path, Path], tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    _, onnx16, cache = built
    assert build_engine_main([str(onnx16), "--out", str(tmp_path / "again.engine"), "--batch", BATCH,
                              "--timing-cache", str(cache)]) == 0
    assert "timing cache updated" in capsys.readouterr().out


def test_strongly_typed_flag_is_set_on_tensorrt_10() -> None:
    import tensorrt as trt

    from engine.gpu.tensorrt_build import network_flags

    flags, used = network_flags()
    if int(trt.__version__.split(".")[0]) == 10:
        assert used and flags == 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)


@pytest.mark.parametrize("batch", [1, 3, 8, 20])  # 20 > the profile's 8: split into 8 + 8 + 4
def test_infer_matches_onnxruntime(trt_backend: Backend, ort_fp16: Backend, batch: int) -> None:
    assert_infer_close(trt_backend, ort_fp16, batch)


def test_cuda_graphs_replay_what_eager_execution_computes(built: tuple[Path, Path, Path]) -> None:
    from engine.gpu.tensorrt_backend import TensorRTBackend

    graphed = TensorRTBackend(built[0])
    eager = TensorRTBackend(built[0], graphs=GraphPolicy(enabled=False))
    rng = np.random.default_rng(0)
    for batch in (2, 8, 2, 8):
        x = rng.standard_normal((batch, 3, 64, 64)).astype(np.float32)
        np.testing.assert_allclose(graphed.infer(x), eager.infer(x), atol=1e-3)
    assert {(2, 3, 64, 64), (8, 3, 64, 64)} <= set(graphed._graphs.shapes)
    graphed.close()
    eager.close()


@pytest.mark.parametrize("flip", [False, True])
def test_estimate_on_real_frames_agrees_with_onnxruntime(trt_backend: Backend, ort_fp16: Backend,
                                                         flip: bool) -> None:
    frames = clip_frames(count=8, step=5)
    boxes = frame_boxes(frames, per_frame=2)
    batch_frames = [f for f in frames for _ in range(2)]
    got = trt_backend.estimate(batch_frames, boxes, flip=flip)
    ref = ort_fp16.estimate(batch_frames, boxes, flip=flip)
    assert got.shape == ref.shape == (16, 14, 3) and np.isfinite(got).all()
    assert joint_agreement(got, ref, boxes, 64) > 0.9
    np.testing.assert_allclose(got[..., 2], ref[..., 2], atol=3e-2)


def test_auto_prefers_the_engine(built: tuple[Path, Path, Path]) -> None:
    with open_backend(built[0], "auto") as backend:
        assert backend.name == "tensorrt" and "TensorRT" in backend.describe()


def test_engine_from_another_gpu_is_refused(built: tuple[Path, Path, Path], tmp_path: Path) -> None:
    engine = tmp_path / "copied.engine"
    shutil.copy(built[0], engine)
    data = json.loads(sidecar_path(built[0]).read_text())
    sidecar_path(engine).write_text(json.dumps({**data, "gpu_name": "Some Other GPU", "compute_capability": "1.0"}))
    with pytest.raises(ModelError, match=r"compute capability 1\.0.*Rebuild it on this machine with: hgpose build"):
        open_backend(engine, "tensorrt")


def test_engine_without_sidecar_is_refused(built: tuple[Path, Path, Path], tmp_path: Path) -> None:
    engine = tmp_path / "bare.engine"
    shutil.copy(built[0], engine)
    with pytest.raises(ModelError, match=r"has no sidecar bare\.engine\.json"):
        open_backend(engine, "tensorrt")
