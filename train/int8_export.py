"""``hgpose export --int8``: the FP32 ONNX file plus its static INT8 sibling, gated on validation PCK.

The INT8 model is calibrated on person crops from a training pack (cut exactly as the runtime cuts
them: the person box warped to the input size, then normalised), and both files are measured on a
validation pack with the evaluation protocol of ``hgpose eval --pack``. If INT8 loses more than
``max_loss`` PCK@0.2, or the calibration crops are blank, nothing is written.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from engine.atomic import atomic_path
from engine.crop import normalise_batch, warp_crop
from engine.errors import InputError, ModelError
from engine.metadata import FLIP_THRESHOLD_KEY, METADATA_KEY, ModelMetadata, check_compatible
from engine.model_file import INT8_SOURCE_KEY, file_sha256, int8_sibling
from train.metrics import LSP_TORSO, pck
from train.pack import Pack, read_pack

# MinMax ranges widen with every outlier seen: on LSPET val, 128 crops lost 0.0006 PCK@0.2, 256 lost
# 0.0046 and 512 lost 0.0057 (hg2-w128-128).
DEFAULT_CALIBRATION_CROPS = 128
MAX_PCK_LOSS = 0.01


@dataclass(frozen=True)
class Int8ExportReport:
    """Both files written and what was measured (PCK@0.2 on the validation pack, no flip test)."""

    fp32_path: Path
    int8_path: Path
    metadata: ModelMetadata  # the INT8 file's
    max_abs_diff: float  # torch vs ONNX Runtime, FP32
    fp32_pck: float
    int8_pck: float
    calibration_crops: int
    fp32_bytes: int
    int8_bytes: int


def calibration_crops(pack: Pack, input_size: int, count: int, seed: int = 0) -> np.ndarray:
    """``count`` crops drawn at random (fixed seed) from ``pack``, cut as the runtime cuts them.

    Returns:
        (N, S, S, 3) uint8 BGR, S = ``input_size``.
    """
    if len(pack) == 0:
        raise InputError("the calibration pack is empty")
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(len(pack), min(count, len(pack)), replace=False))
    return np.stack([warp_crop(pack.images[i], pack.person_box, input_size) for i in idx])


def _pack_predictions(model_path: Path, pack: Pack, progress: bool,
                      flipped: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """(N, K, 3) predictions of an ONNX file for ``pack``'s people through ONNX Runtime on the CPU,
    without the flip test and, when ``flipped``, with it (else None: a file calibrated for one way
    of reading needs no second pass)."""
    from engine.backends.onnxruntime_backend import OnnxRuntimeBackend
    from train.evaluation import predict_pack_crops

    with OnnxRuntimeBackend(model_path) as backend:
        plain = predict_pack_crops(backend, pack, progress=progress)
        return plain, predict_pack_crops(backend, pack, flip=True, progress=progress) if flipped else None


def matched_threshold(fp32: np.ndarray, int8: np.ndarray, fp32_threshold: float) -> float:
    """The INT8 joint threshold that keeps the same share of joints as FP32 keeps at its own.

    Quantised activation ranges can shift heatmap peaks; with FP32's threshold an INT8 file whose
    peaks came out lower would count fewer joints as found, and the tracker would let go of people
    sooner. Matching the kept share on the validation pack keeps the behaviour. (For the bundled
    model the peaks agree: mean confidence 0.3975 vs 0.3980 on the same 300 validation crops, so
    its INT8 threshold stays 0.40.)

    Args:
        fp32, int8: (N, K) confidences of the same joints.
    """
    kept = float((fp32 >= fp32_threshold).mean())
    return round(float(np.quantile(int8, 1.0 - kept)), 2)


def _with_metadata(model: onnx.ModelProto, meta: ModelMetadata) -> onnx.ModelProto:
    for prop in model.metadata_props:
        if prop.key == METADATA_KEY:
            prop.value = meta.to_json()
    return model


def export_int8(checkpoint: Path, out: Path, calibration: Path, val_pack: Path,
                crops: int = DEFAULT_CALIBRATION_CROPS, max_loss: float = MAX_PCK_LOSS, opset: int = 17,
                progress: bool = True) -> Int8ExportReport:
    """Write ``out`` (FP32) and its INT8 sibling ``<stem>.int8.onnx`` (both atomically) or nothing.

    Raises:
        InputError: a pack is missing or corrupt, or the calibration crops are blank.
        ModelError: the export fails its parity check, or INT8 loses more than ``max_loss`` PCK@0.2.
    """
    from engine.export import build_onnx
    from engine.quantize import check_calibration_crops, quantize_int8

    out = Path(out)
    if not out.name.endswith(".onnx") or out.name.endswith(".int8.onnx"):
        raise InputError(f"--out must name the FP32 file, m.onnx (the INT8 file becomes m.int8.onnx), got {out}")
    # Packs first: a typo fails before the slow export.
    calib_pack = read_pack(calibration, progress=progress)
    val = read_pack(val_pack, progress=progress)
    proto, meta, diff = build_onnx(checkpoint, opset=opset)
    check_compatible(meta, skeleton=str(val.info.get("skeleton")))
    calib = calibration_crops(calib_pack, meta.input_size, crops)
    check_calibration_crops(calib, str(calibration))
    report = quantize_int8(proto, normalise_batch(calib, meta.normalisation))
    with tempfile.TemporaryDirectory(prefix="hgpose-int8-") as tmp:
        fp32_tmp, int8_tmp = Path(tmp) / "m.onnx", Path(tmp) / "m.int8.onnx"
        onnx.save(proto, str(fp32_tmp))
        onnx.save(report.model, str(int8_tmp))
        flip_calibrated = FLIP_THRESHOLD_KEY in meta.calibration
        fp32_preds, fp32_flipped = _pack_predictions(fp32_tmp, val, progress, flip_calibrated)
        int8_preds, int8_flipped = _pack_predictions(int8_tmp, val, progress, flip_calibrated)
    skeleton = meta.skeleton_spec
    fp32_pck = pck(fp32_preds, val.joints, skeleton, torso=LSP_TORSO).overall
    int8_res = pck(int8_preds, val.joints, skeleton, torso=LSP_TORSO)
    int8_pck = int8_res.overall
    loss = fp32_pck - int8_pck
    if not loss <= max_loss:
        raise ModelError(f"INT8 loses {loss:.4f} PCK@0.2 on {val_pack} (FP32 {fp32_pck:.4f}, INT8 {int8_pck:.4f}; "
                         f"the limit is {max_loss:g}); nothing was written. Calibrate on more or more "
                         "representative crops (--calibration-crops), or ship FP32 only")
    # The INT8 file's validation metrics are its own, measured here; the FP32 value stays beside them.
    # Each threshold matched on predictions read its own way (flip-test peaks sit elsewhere).
    thresholds = {"joint_threshold": matched_threshold(fp32_preds[..., 2], int8_preds[..., 2],
                                                       meta.threshold_for(False))}
    if fp32_flipped is not None and int8_flipped is not None:
        thresholds[FLIP_THRESHOLD_KEY] = matched_threshold(fp32_flipped[..., 2], int8_flipped[..., 2],
                                                           meta.threshold_for(True))
    int8_meta = report.metadata.with_updates(
        metrics={**report.metadata.metrics, "val_pck@0.2": int8_pck, "val_pck@0.2_limbs": int8_res.limbs,
                 "fp32_val_pck@0.2": fp32_pck},
        calibration={**report.metadata.calibration, **thresholds})
    int8_out = int8_sibling(out)
    with atomic_path(out) as tmp_path:
        onnx.save(proto, str(tmp_path))
    # The INT8 file names the FP32 file it was made from: should its own write fail, the runtime
    # never takes an older INT8 file for this new FP32 one (engine.model_file.stale_int8_reason).
    int8_meta = int8_meta.with_updates(training={**int8_meta.training, INT8_SOURCE_KEY: file_sha256(out)})
    with atomic_path(int8_out) as tmp_path:
        onnx.save(_with_metadata(report.model, int8_meta), str(tmp_path))
    return Int8ExportReport(out, int8_out, int8_meta, diff, fp32_pck, int8_pck, report.calibration_crops,
                            out.stat().st_size, int8_out.stat().st_size)
