"""Choosing a backend: ``auto``'s order and its fallback when a faster candidate fails to open."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest

from engine.backends import registry
from engine.errors import ModelError


@pytest.fixture
def model_dir(tmp_path: Path, tiny_onnx: Path) -> Path:
    """m.onnx (a real tiny model) beside m.engine (a stale engine: its bytes do not matter here)."""
    shutil.copy(tiny_onnx, tmp_path / "m.onnx")
    (tmp_path / "m.engine").write_bytes(b"an engine built for another GPU")
    return tmp_path


@pytest.fixture
def tensorrt_refuses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """TensorRT looks installed, but opening the engine fails as a stale one does (the sidecar check)."""
    opened: list[str] = []
    real_open = registry._open

    def fake_open(name: str, path: Path, *rest: object):
        opened.append(name)
        if name == "tensorrt":
            raise ModelError(f"{path} was built for NVIDIA A100, not this NVIDIA H100; rebuild it with: hgpose ...")
        return real_open(name, path, *rest)

    monkeypatch.setattr(registry, "tensorrt_available", lambda: True)
    monkeypatch.setattr(registry, "ort_cuda_available", lambda: False)
    monkeypatch.setattr(registry, "torch_cuda_available", lambda: False)
    monkeypatch.setattr(registry, "_open", fake_open)
    return opened


def test_auto_prefers_the_engine_then_falls_back_with_a_warning(model_dir: Path, tensorrt_refuses: list[str],
                                                              caplog: pytest.LogCaptureFixture) -> None:
    assert [name for name, _ in registry.auto_candidates(model_dir / "m.onnx")] == ["tensorrt", "onnxruntime"]
    with caplog.at_level(logging.WARNING, logger="engine.backends.registry"):
        backend = registry.open_backend(model_dir / "m.onnx", "auto")
    try:
        assert backend.name == "onnxruntime"
        assert tensorrt_refuses == ["tensorrt", "onnxruntime"]
        assert "backend tensorrt cannot run m.engine" in caplog.text
        assert "rebuild it with" in caplog.text and "falling back to onnxruntime" in caplog.text
        assert len(backend.fallbacks) == 1 and "rebuild it with" in backend.fallbacks[0]  # for front ends
    finally:
        backend.close()


def test_an_explicit_backend_never_falls_back(model_dir: Path, tensorrt_refuses: list[str]) -> None:
    with pytest.raises(ModelError, match="rebuild it with"):
        registry.open_backend(model_dir / "m.engine", "tensorrt")
    assert tensorrt_refuses == ["tensorrt"]


def test_auto_raises_the_last_failure_when_nothing_opens(tmp_path: Path) -> None:
    bad = tmp_path / "m.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(ModelError):
        registry.open_backend(bad, "auto")
