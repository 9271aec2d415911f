"""ONNX export of a checkpoint's final stack, in FP32 or FP16-inside (needs torch and onnx).

Graph contract: input ``input`` (N, 3, S, S) float32, output ``heatmaps`` (N, K, S/4, S/4) float32,
dynamic N, opset >= 17, metadata JSON under ``metadata_props["hgpose"]``. The FP16 variant keeps
float32 I/O and casts at the edges, so TensorRT can build it as a strongly typed network.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from engine.atomic import atomic_path
from engine.errors import ModelError
from engine.metadata import METADATA_KEY, ModelMetadata

OPSET = 17
FP32_TOLERANCE = 1e-3  # max abs heatmap difference, torch vs ONNX Runtime, scaled by the peak
FP16_TOLERANCE = 2e-2


@dataclass(frozen=True)
class ExportReport:
    path: Path
    metadata: ModelMetadata
    max_abs_diff: float
    size_bytes: int


def _to_fp16(model: onnx.ModelProto) -> onnx.ModelProto:
    """Convert initialisers and compute to FP16, keeping float32 graph inputs and outputs."""
    from onnxconverter_common import float16

    return float16.convert_float_to_float16(model, keep_io_types=True)


def materialise_shared_initialisers(model: onnx.ModelProto) -> int:
    """Give every tensor that an ``Identity`` copies from an initialiser an initialiser of its own;
    returns how many. Modifies ``model`` in place.

    torch's exporter stores equal constant tensors once and feeds the other users through
    ``Identity`` nodes. Two biases can be exactly equal after training: a deepened network's two
    new remap convolutions (``train.widen.deepen_state``) start at zero and add into the same sum,
    so every step gives their biases the same gradient. ONNX Runtime's static quantiser then leaves
    the convolution that reads its bias through the ``Identity`` in float, and the CPU runtime wraps
    that float island in layout Transposes: the first three-stack INT8 file ran 1.8-2.1 times as
    long as the two-stack one instead of about 1.45 times (its share of convolutions).
    """
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    kept, copies = [], []
    for node in graph.node:
        if node.op_type == "Identity" and node.input[0] in inits:
            copy = onnx.TensorProto()
            copy.CopyFrom(inits[node.input[0]])
            copy.name = node.output[0]
            copies.append(copy)
        else:
            kept.append(node)
    if copies:
        del graph.node[:]
        graph.node.extend(kept)
        graph.initializer.extend(copies)
    return len(copies)


def export_onnx(checkpoint: Path, out: Path, fp16: bool = False, batch_for_check: int = 2,
                opset: int = OPSET) -> ExportReport:
    """Export ``checkpoint`` to ``out`` (written atomically), check it, and measure torch-vs-ORT parity."""
    proto, meta, diff = build_onnx(checkpoint, fp16, batch_for_check, opset)
    with atomic_path(Path(out)) as tmp:
        onnx.save(proto, str(tmp))
    return ExportReport(Path(out), meta, diff, Path(out).stat().st_size)


def build_onnx(checkpoint: Path, fp16: bool = False, batch_for_check: int = 2,
               opset: int = OPSET) -> tuple[onnx.ModelProto, ModelMetadata, float]:
    """The checked ONNX model of ``checkpoint``, its metadata and the torch-vs-ORT max abs difference.

    Raises ``ModelError`` (nothing is written) when ONNX Runtime and torch disagree.
    """
    import onnxruntime as ort
    import torch

    from engine.checkpoint import load_checkpoint
    from engine.model import LastStack

    if opset < 17:
        raise ModelError(f"opset must be at least 17, got {opset}")
    model, meta = load_checkpoint(checkpoint)
    net = LastStack(model).eval()
    s = meta.input_size
    example = torch.zeros(1, 3, s, s)
    with tempfile.TemporaryDirectory(prefix="hgpose-export-") as tmp_dir, torch.no_grad():
        raw = Path(tmp_dir) / "raw.onnx"
        # The TorchScript exporter: it needs no onnxscript and handles this all-convolutional graph.
        torch.onnx.export(net, (example,), str(raw), input_names=["input"], output_names=["heatmaps"],
                          dynamic_axes={"input": {0: "batch"}, "heatmaps": {0: "batch"}},
                          opset_version=opset, do_constant_folding=True, dynamo=False)
        proto = onnx.load(str(raw))
    materialise_shared_initialisers(proto)
    meta = meta.with_updates(precision="fp16" if fp16 else "fp32")
    if fp16:
        proto = _to_fp16(proto)
    del proto.metadata_props[:]
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, meta.to_json()
    proto.producer_name = "hgpose"
    onnx.checker.check_model(proto, full_check=True)

    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch_for_check, 3, s, s)).astype(np.float32)
    with torch.no_grad():
        ref = net(torch.from_numpy(x)).numpy()
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    got = session.run(["heatmaps"], {"input": x})[0]
    diff = float(np.abs(ref - got).max())
    # Heatmaps peak near 1; FP16 rounding moves them by about 1e-3 (FP32: about 1e-6). A larger gap,
    # or a non-finite value, means a broken graph or FP16 overflow: refuse to write the file.
    tolerance = (FP16_TOLERANCE if fp16 else FP32_TOLERANCE) * max(1.0, float(np.abs(ref).max()))
    if not np.isfinite(got).all() or not diff <= tolerance:
        hint = " (FP16 overflow? export in FP32)" if fp16 else ""
        raise ModelError(f"export parity check failed for {checkpoint}: ONNX Runtime differs from torch by "
                         f"{diff:.3g} (tolerance {tolerance:.3g}){hint}; nothing was written")
    return proto, meta, diff
