"""ONNX Runtime backend: CPU, or the CUDA execution provider when onnxruntime-gpu is installed.

Thread policy (``spinning``): ONNX Runtime's intra-op worker threads spin-wait between operators by
default. On an idle machine that saves wake-up latency (7-27 % on 2 cores), but as soon as another
busy thread shares the cores the spinning workers steal its time slices and the run gets 1.6-1.7x
slower. Each front end picks its default from measurements (README, "Speed"); ``None`` keeps ONNX
Runtime's own default (spinning).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from engine.backends.base import Backend
from engine.errors import BackendError, ModelError
from engine.model_file import metadata_from_props, require_file

INPUT_NAME = "input"
OUTPUT_NAME = "heatmaps"


def cuda_available() -> bool:
    import onnxruntime as ort

    return "CUDAExecutionProvider" in ort.get_available_providers()


class OnnxRuntimeBackend(Backend):
    """Runs an exported ``.onnx`` model (tensors ``input`` (N, 3, S, S) -> ``heatmaps`` (N, K, S/4, S/4))."""

    def __init__(self, model_path: Path, device: str = "cpu", threads: int | None = None,
                 spinning: bool | None = None) -> None:
        import onnxruntime as ort

        require_file(model_path)
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.intra_op_num_threads = threads or (os.cpu_count() or 1)
        opts.log_severity_level = 3
        if spinning is not None:
            opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
            opts.add_session_config_entry("session.inter_op.allow_spinning", "1" if spinning else "0")
        if device == "cuda":
            if not cuda_available():
                raise BackendError("backend onnxruntime-cuda needs onnxruntime-gpu with CUDA; "
                                   "it is not installed here")
            providers: list[str] = ["CUDAExecutionProvider", "CPUExecutionProvider"]
        else:
            providers = ["CPUExecutionProvider"]
        try:
            self.session = ort.InferenceSession(str(model_path), sess_options=opts, providers=providers)
        except Exception as exc:  # ORT raises its own InvalidProtobuf/Fail/InvalidGraph types
            raise ModelError(f"{model_path} is not a valid ONNX file, or ONNX Runtime cannot load it "
                             f"({str(exc).splitlines()[0]})") from None
        # The metadata comes from the session ORT has already parsed: no second read of the file,
        # and no `import onnx` (about 30 ms) on the runtime's start-up path.
        meta = metadata_from_props(self.session.get_modelmeta().custom_metadata_map, model_path)
        super().__init__(model_path, meta)
        inputs = {i.name: i for i in self.session.get_inputs()}
        outputs = {o.name for o in self.session.get_outputs()}
        if INPUT_NAME not in inputs or OUTPUT_NAME not in outputs:
            raise ModelError(f"{model_path}: expected tensors {INPUT_NAME!r} and {OUTPUT_NAME!r}")
        shape = inputs[INPUT_NAME].shape
        s = meta.input_size
        if len(shape) != 4 or list(shape[1:]) != [3, s, s]:
            raise ModelError(f"{model_path}: input shape {shape} does not match metadata size {s}")
        out_shape = next(o.shape for o in self.session.get_outputs() if o.name == OUTPUT_NAME)
        k, h = meta.config.num_joints, meta.heatmap_size
        if len(out_shape) != 4 or list(out_shape[1:]) != [k, h, h]:
            raise ModelError(f"{model_path}: output shape {out_shape} does not match its metadata "
                             f"({k} joints of {meta.skeleton}, {h}x{h} heatmaps); the file is inconsistent")
        self.name = "onnxruntime-cuda" if device == "cuda" else "onnxruntime"
        spin = "" if spinning is None else f", spinning {'on' if spinning else 'off'}"
        self.device = "CUDA" if device == "cuda" else f"CPU ({opts.intra_op_num_threads} threads{spin})"

    def infer(self, batch: np.ndarray) -> np.ndarray:
        out = self.session.run([OUTPUT_NAME], {INPUT_NAME: np.ascontiguousarray(batch, dtype=np.float32)})
        return np.asarray(out[0], dtype=np.float32)
