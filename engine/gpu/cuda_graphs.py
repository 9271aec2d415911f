"""CUDA graphs keyed by input shape, shared by the torch-cuda and TensorRT backends.

A graph replays a fixed sequence of kernels on fixed buffers, so each input shape (in practice
each batch size) gets its own graph, captured on first use: the input is copied into that graph's
static input, the graph is replayed and its static output returned. Launch overhead then costs one
``cudaGraphLaunch`` instead of hundreds of kernel launches, which matters at small batches.

The returned output is overwritten by the next replay of the same graph: consume it (or copy it)
on the same stream before running the same shape again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from engine.errors import BackendError

log = logging.getLogger(__name__)

# Given the static input buffer, set up whatever the work needs (a TensorRT context, output
# buffers) and return the step that enqueues the work on the current stream and returns its output.
StepFactory = Callable[[Tensor], Callable[[], Tensor]]


@dataclass(frozen=True)
class GraphPolicy:
    """When to use CUDA graphs.

    Attributes:
        enabled: capture graphs at all (off: every call runs eagerly).
        max_graphs: distinct shapes to capture; later new shapes run eagerly. Each graph holds its
            own buffers, so this bounds the memory spent on graphs.
        warmup_runs: eager runs before capture (lazy initialisation must not land in the graph).
    """

    enabled: bool = True
    max_graphs: int = 8
    warmup_runs: int = 2


@dataclass
class _Captured:
    graph: torch.cuda.CUDAGraph
    static_in: Tensor
    static_out: Tensor


class CudaGraphCache:
    """One captured CUDA graph per input shape, replayed on ``stream``."""

    def __init__(self, stream: torch.cuda.Stream, make_step: StepFactory, policy: GraphPolicy) -> None:
        self._stream = stream
        self._make_step = make_step
        self.policy = policy
        self._graphs: dict[tuple[int, ...], _Captured] = {}
        self._broken = False

    @property
    def shapes(self) -> list[tuple[int, ...]]:
        """Input shapes that have a captured graph."""
        return list(self._graphs)

    def run(self, x: Tensor) -> Tensor | None:
        """Replay the graph for ``x.shape`` (capturing it first if allowed); None means run eagerly.

        Must be called with ``stream`` as the current stream.
        """
        key = tuple(x.shape)
        captured = self._graphs.get(key)
        if captured is None:
            if not self.policy.enabled or self._broken or len(self._graphs) >= self.policy.max_graphs:
                return None
            captured = self._capture(x)
            if captured is None:
                return None
            self._graphs[key] = captured
        captured.static_in.copy_(x)
        captured.graph.replay()
        return captured.static_out

    def _capture(self, x: Tensor) -> _Captured | None:
        static_in = torch.empty_like(x, memory_format=torch.contiguous_format)
        static_in.copy_(x)
        try:
            step = self._make_step(static_in)
            for _ in range(self.policy.warmup_runs):
                step()
            self._stream.synchronize()
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph, stream=self._stream):
                static_out = step()
        except (RuntimeError, BackendError) as exc:
            # Some engines or drivers cannot be captured (BackendError: TensorRT refused to enqueue
            # under capture); eager execution still works, so degrade to it for good rather than
            # failing inference.
            self._broken = True
            log.warning("CUDA graph capture failed for input %s; running without CUDA graphs (%s)",
                        tuple(x.shape), str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__)
            return None
        return _Captured(graph, static_in, static_out)

    def clear(self) -> None:
        self._graphs.clear()
