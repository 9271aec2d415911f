"""TensorRT runtime backend for engines built by ``hgpose build-engine`` (TensorRT 10.1+ and 11.x API).

Execution uses only the name-based tensor API (``num_io_tensors``, ``get_tensor_name``,
``get_tensor_mode``, ``set_input_shape``, ``set_tensor_address``, ``execute_async_v3``) on a
dedicated CUDA stream; device buffers are torch CUDA tensors, so no pycuda is needed.

Contexts: one for eager runs of any batch size, plus one per CUDA graph (a graph bakes in its
context's shapes and tensor addresses, so a context is never reshaped after capture). All contexts
share one scratch allocation (``USER_MANAGED`` device memory), which is safe because they only
ever run one after another on the same stream.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import tensorrt as trt
import torch
from torch import Tensor

from engine.backends.base import Backend
from engine.errors import BackendError, ModelError
from engine.gpu.cuda_graphs import CudaGraphCache, GraphPolicy
from engine.gpu.device_backend import DeviceBackendMixin
from engine.gpu.device_estimate import DeviceEstimator
from engine.gpu.engine_sidecar import EngineSidecar, check_engine, rebuild_command, source_onnx
from engine.gpu.tensorrt_support import current_runtime_info, logged_errors, make_logger, require_tensorrt
from engine.model_file import require_file

INPUT_NAME = "input"
OUTPUT_NAME = "heatmaps"


def _dims(dims: trt.Dims) -> tuple[int, ...]:
    return tuple(int(dims[i]) for i in range(len(dims)))


class TensorRTBackend(DeviceBackendMixin, Backend):
    """Runs a serialised TensorRT engine: ``input`` (N, 3, S, S) float32 -> ``heatmaps`` (N, K, S/4, S/4) float32.

    Batches above the engine's profile maximum are split; batches below its minimum are padded.
    """

    name = "tensorrt"

    def __init__(self, model_path: Path, graphs: GraphPolicy | None = None) -> None:
        require_tensorrt("backend tensorrt")
        model_path = require_file(Path(model_path))
        plan = model_path.read_bytes()
        self._cuda = torch.device("cuda", torch.cuda.current_device())
        runtime_info = current_runtime_info(self._cuda.index)
        # Refuses another GPU, TensorRT version or model, with the command that rebuilds the engine.
        self.sidecar: EngineSidecar = check_engine(model_path, plan, runtime_info)
        super().__init__(model_path, self.sidecar.metadata)
        self._rebuild = rebuild_command(source_onnx(model_path, self.sidecar), model_path, self.sidecar.settings)

        self._logger = make_logger()
        self._runtime = trt.Runtime(self._logger)
        engine = self._runtime.deserialize_cuda_engine(plan)
        if engine is None:
            raise ModelError(f"{model_path}: TensorRT cannot load this engine ({logged_errors(self._logger)}); "
                             f"rebuild it with: {self._rebuild}")
        self._engine = engine
        self._min_batch, self._max_batch = self._check_io()
        s, k, h = self.metadata.input_size, self.metadata.config.num_joints, self.metadata.heatmap_size
        self._out_shape = (k, h, h)

        self._stream = torch.cuda.Stream(self._cuda)
        self._scratch = torch.empty(max(1, engine.device_memory_size_v2), dtype=torch.uint8, device=self._cuda)
        self._eager = self._new_context()
        self._graph_contexts: list[trt.IExecutionContext] = []
        self._graphs = CudaGraphCache(self._stream, self._graph_step, graphs or GraphPolicy())
        self._estimator = DeviceEstimator(self.metadata, self._cuda, self._stream)
        self.device = (f"{runtime_info.gpu_name} (TensorRT {runtime_info.tensorrt_version}, "
                       f"{self.sidecar.precision}, batch {self.sidecar.settings.batch}, {s}px)")

    def _check_io(self) -> tuple[int, int]:
        """Check the engine's tensors against the metadata; return the profile's (min, max) batch."""
        engine = self._engine
        names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        inputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        outputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
        where = f"{self.model_path}: "
        if inputs != [INPUT_NAME] or outputs != [OUTPUT_NAME]:
            raise ModelError(f"{where}expected tensors {INPUT_NAME!r} -> {OUTPUT_NAME!r}, got {inputs} -> {outputs}; "
                             f"rebuild it with: {self._rebuild}")
        for name in names:
            if engine.get_tensor_dtype(name) != trt.DataType.FLOAT:
                raise ModelError(f"{where}tensor {name!r} is {engine.get_tensor_dtype(name)}, expected float32 "
                                 f"(build from `hgpose export --fp16` output); rebuild it with: {self._rebuild}")
        s, k, h = self.metadata.input_size, self.metadata.config.num_joints, self.metadata.heatmap_size
        shape_in = _dims(engine.get_tensor_shape(INPUT_NAME))
        shape_out = _dims(engine.get_tensor_shape(OUTPUT_NAME))
        if shape_in[1:] != (3, s, s) or shape_out[1:] != (k, h, h):
            raise ModelError(f"{where}engine shapes {shape_in} -> {shape_out} do not match its metadata "
                             f"(3x{s}x{s} -> {k}x{h}x{h}); it holds another model. Rebuild it with: {self._rebuild}")
        low, _, high = (_dims(d) for d in engine.get_tensor_profile_shape(INPUT_NAME, 0))
        return max(1, low[0]), high[0]

    def _new_context(self) -> trt.IExecutionContext:
        context = self._engine.create_execution_context(trt.ExecutionContextAllocationStrategy.USER_MANAGED)
        if context is None:
            raise BackendError(f"TensorRT could not create an execution context ({logged_errors(self._logger)})")
        context.set_device_memory(self._scratch.data_ptr(), self._scratch.numel())
        return context

    def _bind(self, context: trt.IExecutionContext, x: Tensor) -> Tensor:
        """Set ``context``'s input shape and addresses for ``x``; return the output buffer it will fill."""
        out = torch.empty((x.shape[0], *self._out_shape), dtype=torch.float32, device=self._cuda)
        if not context.set_input_shape(INPUT_NAME, tuple(x.shape)):
            raise BackendError(f"TensorRT rejected input shape {tuple(x.shape)} ({logged_errors(self._logger)})")
        context.set_tensor_address(INPUT_NAME, x.data_ptr())
        context.set_tensor_address(OUTPUT_NAME, out.data_ptr())
        return out

    def _enqueue(self, context: trt.IExecutionContext) -> None:
        if not context.execute_async_v3(torch.cuda.current_stream(self._cuda).cuda_stream):
            raise BackendError(f"TensorRT execution failed ({logged_errors(self._logger)})")

    def _graph_step(self, static_in: Tensor) -> Callable[[], Tensor]:
        # A context of its own: capturing bakes its shape and addresses into the graph.
        context = self._new_context()
        static_out = self._bind(context, static_in)
        self._graph_contexts.append(context)

        def step() -> Tensor:
            self._enqueue(context)
            return static_out

        return step

    def _run_chunk(self, x: Tensor) -> Tensor:
        out = self._graphs.run(x)
        if out is not None:
            return out
        out = self._bind(self._eager, x)
        self._enqueue(self._eager)
        return out

    def run_device(self, x: Tensor) -> Tensor:
        """(N, 3, S, S) float32 on the GPU -> (N, K, S/4, S/4) float32 on the GPU (current stream)."""
        x = x.float().contiguous()
        n = x.shape[0]
        out = torch.empty((n, *self._out_shape), dtype=torch.float32, device=self._cuda)
        for start in range(0, n, self._max_batch):
            chunk = x[start:start + self._max_batch]
            m = chunk.shape[0]
            if m < self._min_batch:
                chunk = torch.cat([chunk, chunk.new_zeros((self._min_batch - m, *chunk.shape[1:]))])
            # Copy out now: a graph's output buffer is reused by its next replay.
            out[start:start + m].copy_(self._run_chunk(chunk)[:m])
        return out

    def close(self) -> None:
        super().close()
        self._graph_contexts.clear()
