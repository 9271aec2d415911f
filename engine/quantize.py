"""Static INT8 quantisation of an exported FP32 ONNX model (needs onnx; not on the runtime path).

Why static QDQ and not dynamic: dynamic INT8 requantises activations on every call and measured
5-10x slower than FP32 on the project's CPU; static QDQ with per-channel weight scales runs the
convolutions as INT8 kernels (about 2x faster than FP32 a crop) at a PCK cost under 0.01.

Why fold BatchNorms first: the pre-activation residual blocks put a BatchNormalization after each
skip addition, where no convolution precedes it to absorb it. ONNX Runtime's quantiser leaves such a
BatchNorm in float (with layout Transposes around it), which is slower and less accurate. A
BatchNorm is exactly a per-channel affine map, i.e. a depthwise 1x1 convolution
(``group = C``, weight ``gamma / sqrt(var + eps)``, bias ``beta - mean * weight``), which quantises
like every other convolution.

Input and output stay float32 (``input`` (N, 3, S, S), ``heatmaps`` (N, K, S/4, S/4)), so callers
do not change; the metadata travels with ``precision: int8``.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

from engine.errors import InputError, ModelError
from engine.metadata import METADATA_KEY, ModelMetadata

# A calibration crop whose grey levels carry less information than this (Shannon entropy of the
# 256-bin histogram, bits) is blank: a uniform image, perhaps with the black border of a crop that
# leaves the frame. Photos score 6-7.5 bits. Activation ranges calibrated on blank crops are near
# zero and would clip real images.
BLANK_ENTROPY_BITS = 2.0
MIN_USEFUL_CROPS = 8


@dataclass(frozen=True)
class QuantizeReport:
    """What :func:`quantize_int8` produced: the INT8 model, its metadata and the crops it saw."""

    model: onnx.ModelProto
    metadata: ModelMetadata
    calibration_crops: int


def fold_batchnorms(model: onnx.ModelProto) -> tuple[onnx.ModelProto, int]:
    """Replace every ``BatchNormalization`` (inference form) with an equivalent depthwise 1x1 Conv.

    Returns the rewritten copy and how many were replaced. Shapes: X (N, C, H, W) -> (N, C, H, W).
    """
    out = onnx.ModelProto()
    out.CopyFrom(model)
    graph = out.graph
    inits = {t.name: t for t in graph.initializer}
    # The TorchScript exporter shares identical tensors (fresh BatchNorm weights of ones, say) and
    # names the copies through Identity nodes: read the parameters through them.
    alias = {n.output[0]: n.input[0] for n in graph.node if n.op_type == "Identity" and n.input[0] in inits}
    new_nodes = []
    folded = 0
    for node in graph.node:
        if node.op_type != "BatchNormalization" or len(node.output) != 1:
            new_nodes.append(node)
            continue
        x, *params = node.input
        scale, bias, mean, var = (alias.get(n, n) for n in params)
        missing = [n for n in (scale, bias, mean, var) if n not in inits]
        if missing:
            raise ModelError(f"BatchNorm {node.name} takes computed parameters ({missing[0]}); cannot fold it")
        eps = next((a.f for a in node.attribute if a.name == "epsilon"), 1e-5)
        gamma, beta, mu, sigma2 = (numpy_helper.to_array(inits[n]).astype(np.float64)
                                   for n in (scale, bias, mean, var))
        w = gamma / np.sqrt(sigma2 + eps)
        b = beta - mu * w
        channels = w.shape[0]
        stem = node.name or node.output[0]
        w_name, b_name = f"{stem}_dw_weight", f"{stem}_dw_bias"
        graph.initializer.append(numpy_helper.from_array(w.reshape(channels, 1, 1, 1).astype(np.float32), w_name))
        graph.initializer.append(numpy_helper.from_array(b.astype(np.float32), b_name))
        new_nodes.append(helper.make_node("Conv", [x, w_name, b_name], list(node.output), name=f"{stem}_dw",
                                          group=channels, kernel_shape=[1, 1]))
        folded += 1
    consumed = {i for n in new_nodes for i in n.input} | {o.name for o in graph.output}
    del graph.node[:]
    graph.node.extend(n for n in new_nodes if n.op_type != "Identity" or n.output[0] in consumed)
    used = {i for n in graph.node for i in n.input}
    kept = [t for t in graph.initializer if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    return out, folded


def check_calibration_crops(crops_bgr: np.ndarray, source: str) -> None:
    """Refuse calibration data that cannot set activation ranges: too few crops, or blank ones.

    Args:
        crops_bgr: (N, S, S, 3) uint8 BGR crops at the model's input size.
    """
    if crops_bgr.ndim != 4 or crops_bgr.shape[-1] != 3:
        raise InputError(f"calibration crops from {source} have shape {crops_bgr.shape}; expected (N, S, S, 3)")
    n = len(crops_bgr)
    useful = sum(grey_entropy(c) >= BLANK_ENTROPY_BITS for c in crops_bgr)
    if useful < max(MIN_USEFUL_CROPS, n // 2):
        raise InputError(f"calibration data {source} is useless: {n - useful} of {n} crops are blank (grey-level "
                         f"entropy below {BLANK_ENTROPY_BITS:g} bits), so INT8 activation ranges calibrated on "
                         f"them would clip real images; calibrate on training crops (at least "
                         f"{MIN_USEFUL_CROPS} non-blank, e.g. data/lspet-train.npz)")


def grey_entropy(crop_bgr: np.ndarray) -> float:
    """Shannon entropy in bits of an (H, W, 3) uint8 crop's 256-bin grey-level histogram."""
    grey = crop_bgr.mean(axis=2).astype(np.uint8)
    p = np.bincount(grey.ravel(), minlength=256) / grey.size
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum())


class _DropMessages(logging.Filter):
    def __init__(self, fragment: str) -> None:
        super().__init__()
        self.fragment = fragment

    def filter(self, record: logging.LogRecord) -> bool:
        return self.fragment not in record.getMessage()


class _ArrayReader:
    """An ONNX Runtime ``CalibrationDataReader`` over a float array, ``batch`` crops a call."""

    def __init__(self, x: np.ndarray, batch: int) -> None:
        self._x = x
        self._batch = batch
        self._it = self._batches()

    def _batches(self) -> Iterator[dict[str, np.ndarray]]:
        for start in range(0, len(self._x), self._batch):
            yield {"input": np.ascontiguousarray(self._x[start:start + self._batch])}

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._it, None)

    def rewind(self) -> None:
        self._it = self._batches()


def quantize_int8(fp32: onnx.ModelProto, calibration: np.ndarray, batch: int = 16) -> QuantizeReport:
    """Static INT8 (QDQ, per-channel signed 7-bit weights, unsigned activations, MinMax ranges) of ``fp32``.

    Args:
        fp32: an ``hgpose export`` FP32 model (metadata under ``hgpose``).
        calibration: (N, 3, S, S) float32 normalised crops, as the backend feeds them.

    Returns the INT8 model with the same metadata, ``precision`` set to ``int8``.
    """
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    props = {p.key: p.value for p in fp32.metadata_props}
    if METADATA_KEY not in props:
        raise ModelError("the FP32 model has no hgpose metadata; export it with `hgpose export`")
    meta = ModelMetadata.from_json(props[METADATA_KEY]).with_updates(precision="int8")
    folded, _ = fold_batchnorms(fp32)

    class Reader(_ArrayReader, CalibrationDataReader):
        pass

    # quantize_static logs a hint to run ORT's pre-processing (shape inference, fusions) on the root
    # logger; the BatchNorm folding above is the fusion that matters for this network.
    quiet = _DropMessages("pre-process")
    logging.getLogger().addFilter(quiet)
    try:
        with tempfile.TemporaryDirectory(prefix="hgpose-int8-") as tmp:
            src, dst = Path(tmp) / "folded.onnx", Path(tmp) / "int8.onnx"
            onnx.save(folded, str(src))
            # reduce_range: 7-bit weights. Without VNNI (AVX2-only x86: many laptops, AMD before Zen 4)
            # ONNX Runtime multiplies u8 x s8 pairs with vpmaddubsw, whose int16 sums saturate; on
            # such a CPU the tiny test model's INT8 heatmaps were 35 % off its FP32 ones. One bit of
            # weight precision is the documented price for an INT8 file that is right on every CPU.
            quantize_static(str(src), str(dst), Reader(calibration.astype(np.float32), batch),
                            quant_format=QuantFormat.QDQ, per_channel=True, activation_type=QuantType.QUInt8,
                            weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax, reduce_range=True,
                            extra_options={"CalibTensorRangeSymmetric": False})
            model = onnx.load(str(dst))
    finally:
        logging.getLogger().removeFilter(quiet)
    del model.metadata_props[:]
    entry = model.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, meta.to_json()
    model.producer_name = "hgpose"
    return QuantizeReport(model, meta, len(calibration))
