"""The CUDA-graph cache's policy decisions, which need no GPU: when it declines to capture, and that
a capture that fails degrades to eager execution for good instead of failing inference."""

from __future__ import annotations

import logging

import pytest

torch = pytest.importorskip("torch")

from engine.errors import BackendError  # noqa: E402
from engine.gpu.cuda_graphs import CudaGraphCache, GraphPolicy  # noqa: E402


class RefusingStep:
    """A step factory whose work is refused, as TensorRT refuses ``execute_async_v3`` under capture."""

    def __init__(self, error: Exception) -> None:
        self.error = error
        self.calls = 0

    def __call__(self, static_in: torch.Tensor):
        self.calls += 1

        def step() -> torch.Tensor:
            raise self.error

        return step


@pytest.mark.parametrize("error", [BackendError("TensorRT execution failed"), RuntimeError("capture failed")])
def test_failed_capture_degrades_to_eager_for_good(error: Exception, caplog: pytest.LogCaptureFixture) -> None:
    factory = RefusingStep(error)
    cache = CudaGraphCache(stream=None, make_step=factory, policy=GraphPolicy())  # type: ignore[arg-type]
    x = torch.zeros(2, 3, 8, 8)
    with caplog.at_level(logging.WARNING, logger="engine.gpu.cuda_graphs"):
        assert cache.run(x) is None
    assert "running without CUDA graphs" in caplog.text
    # No second attempt, for this shape or another: every later call runs eagerly.
    assert cache.run(x) is None
    assert cache.run(torch.zeros(4, 3, 8, 8)) is None
    assert factory.calls == 1
    assert cache.shapes == []


def test_disabled_policy_never_captures() -> None:
    factory = RefusingStep(RuntimeError("must not be called"))
    cache = CudaGraphCache(stream=None, make_step=factory, policy=GraphPolicy(enabled=False))  # type: ignore[arg-type]
    assert cache.run(torch.zeros(1, 3, 8, 8)) is None
    assert factory.calls == 0


def test_errors_other_than_capture_failures_propagate() -> None:
    cache = CudaGraphCache(stream=None, make_step=RefusingStep(ValueError("a bug")), policy=GraphPolicy())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="a bug"):
        cache.run(torch.zeros(1, 3, 8, 8))
