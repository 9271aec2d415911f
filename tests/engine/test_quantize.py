"""Static INT8: the file's structure and metadata, BatchNorm folding, refusing blank calibration data,
and which file ``--precision`` (``auto`` on the CPU: INT8 when it exists) opens."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from engine.backends import registry
from engine.crop import normalise_batch
from engine.errors import BackendError, InputError, ModelError
from engine.metadata import METADATA_KEY, ModelMetadata
from engine.model_file import int8_sibling
from engine.quantize import check_calibration_crops, fold_batchnorms


def test_int8_file_is_qdq_with_per_channel_weights_and_no_float_batchnorm(tiny_int8: Path) -> None:
    proto = onnx.load(str(tiny_int8))
    ops = [n.op_type for n in proto.graph.node]
    assert "BatchNormalization" not in ops and "Transpose" not in ops
    assert ops.count("QuantizeLinear") > 10 and ops.count("DequantizeLinear") > ops.count("QuantizeLinear")
    inits = {t.name: t for t in proto.graph.initializer}
    producers = {o: n for n in proto.graph.node for o in n.output}
    convs = [n for n in proto.graph.node if n.op_type == "Conv"]
    assert convs
    for conv in convs:
        # Every convolution reads dequantised INT8 weights with one scale per output channel.
        deq = producers[conv.input[1]]
        assert deq.op_type == "DequantizeLinear"
        weights = inits[deq.input[0]]
        scales = numpy_helper.to_array(inits[deq.input[1]])
        assert weights.data_type == onnx.TensorProto.INT8
        assert scales.shape == (weights.dims[0],)
        assert producers[conv.input[0]].op_type == "DequantizeLinear"  # and INT8 activations
    meta = ModelMetadata.from_json({p.key: p.value for p in proto.metadata_props}[METADATA_KEY])
    fp32 = ModelMetadata.from_json({p.key: p.value for p in onnx.load(str(tiny_int8.with_name("m.onnx")))
                                    .metadata_props}[METADATA_KEY])
    assert meta.precision == "int8" and fp32.precision == "fp32"
    assert meta.with_updates(precision="fp32") == fp32  # the same model description otherwise


def test_batchnorm_folding_is_exact(tiny_onnx: Path) -> None:
    import onnxruntime as ort

    proto = onnx.load(str(tiny_onnx))
    before = sum(n.op_type == "BatchNormalization" for n in proto.graph.node)
    folded, count = fold_batchnorms(proto)
    assert before > 0 and count == before
    assert not any(n.op_type == "BatchNormalization" for n in folded.graph.node)
    x = np.random.default_rng(1).standard_normal((2, 3, 64, 64)).astype(np.float32)
    run = [ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
           for m in (proto, folded)]
    assert np.abs(run[0]).max() > 1e-3
    np.testing.assert_allclose(run[1], run[0], atol=1e-4)


def test_int8_heatmaps_follow_fp32(tiny_int8: Path, clip_crops: Callable[[int, int], np.ndarray]) -> None:
    with registry.open_backend(tiny_int8, "onnxruntime", precision="fp32") as fp32, \
            registry.open_backend(tiny_int8, "onnxruntime", precision="int8") as int8:
        x = normalise_batch(clip_crops(64, 6), fp32.metadata.normalisation)
        a, b = fp32.infer(x), int8.infer(x)
    assert not np.array_equal(a, b)  # really two different models
    assert np.abs(a - b).max() < 0.1 * np.abs(a).max()


def test_blank_calibration_crops_are_refused_with_the_reason() -> None:
    blank = np.full((32, 64, 64, 3), 127, np.uint8)
    with pytest.raises(InputError, match=r"useless: 32 of 32 crops are blank"):
        check_calibration_crops(blank, "blank.npz")
    mixed = blank.copy()
    mixed[:24] = np.random.default_rng(0).integers(0, 255, (24, 64, 64, 3), dtype=np.uint8)
    check_calibration_crops(mixed, "mixed.npz")  # mostly real crops: accepted


@pytest.fixture
def cpu_only(monkeypatch: pytest.MonkeyPatch) -> None:
    for probe in ("tensorrt_available", "ort_cuda_available", "torch_cuda_available"):
        monkeypatch.setattr(registry, probe, lambda: False)


def test_auto_picks_int8_on_the_cpu_and_precision_overrides(tiny_int8: Path, cpu_only: None) -> None:
    fp32 = tiny_int8.with_name("m.onnx")
    for named in (fp32, tiny_int8):  # whichever file the user names
        assert registry.resolve_backend(named, "auto") == ("onnxruntime", tiny_int8)
        assert registry.resolve_backend(named, "onnxruntime") == ("onnxruntime", tiny_int8)
        assert registry.resolve_backend(named, "auto", "fp32") == ("onnxruntime", fp32)
        assert registry.resolve_backend(named, "onnxruntime", "int8") == ("onnxruntime", tiny_int8)
    with registry.open_backend(fp32) as backend:
        assert backend.metadata.precision == "int8" and "(int8)" in backend.describe()
    with registry.open_backend(fp32, precision="fp32") as backend:
        assert backend.metadata.precision == "fp32" and backend.model_path == fp32


def test_int8_needs_the_file_and_the_cpu_backend(tiny_onnx: Path, tmp_path: Path, cpu_only: None) -> None:
    lone = Path(shutil.copy(tiny_onnx, tmp_path / "lone.onnx"))
    assert registry.resolve_backend(lone, "auto") == ("onnxruntime", lone)  # no INT8 file: FP32
    with pytest.raises(ModelError, match=r"lone\.int8\.onnx.*hgpose export --int8"):
        registry.resolve_backend(lone, "onnxruntime", "int8")
    with pytest.raises(ModelError, match=r"no INT8 file"):
        registry.resolve_backend(lone, "auto", "int8")
    shutil.copy(lone, int8_sibling(lone))
    with pytest.raises(BackendError, match="INT8 runs on the onnxruntime CPU backend"):
        registry.resolve_backend(lone, "onnxruntime-cuda", "int8")
    with pytest.raises(BackendError, match="unknown precision"):
        registry.resolve_backend(lone, "auto", "int4")


def test_spinning_is_set_and_shown(tiny_onnx: Path) -> None:
    with registry.open_backend(tiny_onnx, "onnxruntime", spinning=False) as off:
        assert "spinning off" in off.device
    with registry.open_backend(tiny_onnx, "onnxruntime") as default:
        assert "spinning" not in default.device


def test_a_stale_int8_sibling_never_stands_in_for_a_newer_fp32_file(tiny_int8: Path, tmp_path: Path,
                                                                    cpu_only: None) -> None:
    import onnx

    from engine.metadata import METADATA_KEY
    from engine.model_file import INT8_SOURCE_KEY, file_sha256, read_onnx_metadata

    fp32 = Path(shutil.copy(tiny_int8.with_name("m.onnx"), tmp_path / "m.onnx"))
    int8 = tmp_path / "m.int8.onnx"
    proto = onnx.load(str(tiny_int8))
    meta = read_onnx_metadata(tiny_int8)
    recorded = meta.with_updates(training={**meta.training, INT8_SOURCE_KEY: file_sha256(fp32)})
    for prop in proto.metadata_props:
        if prop.key == METADATA_KEY:
            prop.value = recorded.to_json()
    onnx.save(proto, str(int8))

    with registry.open_backend(fp32) as backend:  # made from this m.onnx: INT8 runs
        assert backend.model_path == int8 and not backend.fallbacks

    newer = onnx.load(str(fp32))  # a re-export without --int8 replaces m.onnx only
    newer.doc_string = "re-exported"
    onnx.save(newer, str(fp32))

    with registry.open_backend(fp32) as backend:
        assert backend.model_path == fp32 and backend.metadata.precision == "fp32"
        assert "not quantised from the current m.onnx" in backend.fallbacks[0]
    with registry.open_backend(fp32, "onnxruntime") as backend:
        assert backend.model_path == fp32
    with registry.open_backend(int8) as backend:  # named by the user: their choice stands
        assert backend.model_path == int8
    # ... with no FP32 file to slip to if it fails to open; picked by auto, FP32 backs it up.
    assert registry._plan(int8, "auto") == [("onnxruntime", int8)]
    assert registry._plan(fp32, "auto") == [("onnxruntime", int8), ("onnxruntime", fp32)]


def test_equal_biases_are_quantised_like_any_other(tmp_path: Path,
                                                   clip_crops: Callable[[int, int], np.ndarray]) -> None:
    # A deepened network's two new remap convolutions keep equal biases through training (they add
    # into one sum, so they get the same gradient); the exporter then shares one tensor through an
    # Identity node, which left that convolution float in the INT8 file (and ORT wrapped it in
    # Transposes). The export gives each its own initialiser, so every convolution is INT8.
    torch = pytest.importorskip("torch")
    from engine.checkpoint import save_checkpoint
    from engine.export import build_onnx
    from engine.metadata import HourglassConfig
    from engine.model import build_model
    from engine.quantize import quantize_int8

    torch.manual_seed(0)
    config = HourglassConfig(num_stacks=2, width=16, num_joints=14, input_size=64)
    model = build_model(config)
    with torch.no_grad():
        model.remap_features[0].bias.fill_(0.01)
        model.remap_heatmaps[0].bias.fill_(0.01)
    path = tmp_path / "deep.pt"
    save_checkpoint(path, model, ModelMetadata(skeleton="lsp14", config=config, name="deep"))
    proto, meta, _ = build_onnx(path)
    assert "Identity" not in [n.op_type for n in proto.graph.node]
    x = normalise_batch(clip_crops(64, 16), meta.normalisation)
    int8 = quantize_int8(proto, x).model
    producers = {o: n for n in int8.graph.node for o in n.output}
    convs = [n for n in int8.graph.node if n.op_type == "Conv"]
    assert convs
    for conv in convs:
        assert producers[conv.input[0]].op_type == producers[conv.input[1]].op_type == "DequantizeLinear"
