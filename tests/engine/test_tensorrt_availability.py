"""What happens without a usable TensorRT: clean errors from the CLI and the registry, never a traceback.

On a machine with the real runtime and a GPU these tests skip; there, test_tensorrt_backend.py runs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.commands.build_engine import main as build_engine_main
from engine.errors import BackendError
from engine.gpu.tensorrt_support import unavailable_reason, version_tuple

REASON = unavailable_reason()
needs_no_tensorrt = pytest.mark.skipif(REASON is None, reason="TensorRT and a GPU are available here")


def test_version_tuple() -> None:
    assert version_tuple("10.13.0.35") == (10, 13, 0, 35)
    assert version_tuple("11.0.0b1") == (11, 0, 0)
    assert version_tuple("10.1") >= (10, 1) > version_tuple("10.0.1.6")


@needs_no_tensorrt
def test_reason_is_specific() -> None:
    import importlib.util

    assert REASON
    if importlib.util.find_spec("tensorrt") is not None:
        import tensorrt

        if not hasattr(tensorrt, "Runtime"):  # tensorrt-stubs alone: an empty namespace package
            assert "TensorRT is not installed (only its type stubs are)" in REASON


@needs_no_tensorrt
def test_build_engine_without_tensorrt_fails_cleanly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "m.engine"
    code = build_engine_main([str(tmp_path / "m16.onnx"), "--out", str(out), "--batch", "1:8:64"])
    err = capsys.readouterr().err
    assert code == BackendError.exit_code
    assert err.startswith("hgpose build-engine: error: building a TensorRT engine needs TensorRT and a CUDA GPU")
    assert "Traceback" not in err
    assert not out.exists() and not Path(f"{out}.json").exists()


@pytest.mark.parametrize(("args", "message"), [
    (["--batch", "8:4:2"], "batch profile must satisfy"),
    (["--batch", "1:8"], "must be MIN:OPT:MAX"),
])
def test_build_engine_rejects_bad_options_before_anything_else(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                               args: list[str], message: str) -> None:
    code = build_engine_main([str(tmp_path / "m16.onnx"), "--out", str(tmp_path / "m.engine"), *args])
    assert code == 6 and message in capsys.readouterr().err


def test_build_engine_wants_an_engine_suffix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert build_engine_main([str(tmp_path / "m16.onnx"), "--out", str(tmp_path / "m.plan")]) == 6
    assert "--out must end in .engine" in capsys.readouterr().err


def test_bad_workspace_is_a_one_line_config_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        build_engine_main([str(tmp_path / "m16.onnx"), "--out", str(tmp_path / "m.engine"), "--workspace", "-1"])
    assert info.value.code == 6
    assert capsys.readouterr().err.startswith("hgpose build-engine: error: argument --workspace: must be positive")


@needs_no_tensorrt
def test_registry_refuses_the_tensorrt_backend_cleanly(tmp_path: Path) -> None:
    from engine.backends.registry import open_backend

    engine = tmp_path / "m.engine"
    engine.write_bytes(b"plan")
    with pytest.raises(BackendError, match="TensorRT"):
        open_backend(engine, "tensorrt")


@needs_no_tensorrt
def test_asking_for_tensorrt_without_it_says_it_is_not_installed(bundled_model: Path) -> None:
    # The bundled model has no .engine beside it, but the missing runtime is what to fix first.
    from engine.backends.registry import open_backend

    with pytest.raises(BackendError, match=r"backend tensorrt cannot run: .*not installed"):
        open_backend(bundled_model, "tensorrt")


@needs_no_tensorrt
def test_tensorrt_backend_refuses_before_touching_the_engine(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("tensorrt")
    from engine.gpu.tensorrt_backend import TensorRTBackend  # importable against the stubs alone

    with pytest.raises(BackendError, match="backend tensorrt needs TensorRT"):
        TensorRTBackend(tmp_path / "missing.engine")
