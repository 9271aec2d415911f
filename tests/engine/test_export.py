from pathlib import Path

import numpy as np
import onnx
import pytest

torch = pytest.importorskip("torch")

from engine.backends.registry import open_backend  # noqa: E402
from engine.checkpoint import load_checkpoint  # noqa: E402
from engine.metadata import METADATA_KEY, ModelMetadata  # noqa: E402
from engine.model import LastStack  # noqa: E402
from train.commands.export import main as export_main  # noqa: E402


def test_onnx_contract(tiny_onnx: Path) -> None:
    proto = onnx.load(str(tiny_onnx))
    assert max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")) >= 17
    assert [i.name for i in proto.graph.input] == ["input"]
    assert [o.name for o in proto.graph.output] == ["heatmaps"]
    dim0 = proto.graph.input[0].type.tensor_type.shape.dim[0]
    assert dim0.dim_param  # symbolic: dynamic batch
    meta = ModelMetadata.from_json({p.key: p.value for p in proto.metadata_props}[METADATA_KEY])
    assert meta.skeleton == "lsp14" and meta.input_size == 64 and meta.precision == "fp32"


def test_torch_and_onnxruntime_agree(tiny_checkpoint: Path, tiny_onnx: Path) -> None:
    model, _ = load_checkpoint(tiny_checkpoint)
    x = np.random.default_rng(0).standard_normal((3, 3, 64, 64)).astype(np.float32)
    with torch.no_grad():
        ref = LastStack(model)(torch.from_numpy(x)).numpy()
    with open_backend(tiny_onnx, "onnxruntime") as ort_backend:
        got = ort_backend.infer(x)  # batch 3: the exported batch axis is dynamic
    assert np.abs(ref).max() > 1e-3  # the comparison is not between two zero tensors
    assert float(np.abs(ref - got).max()) < 1e-4
    with open_backend(tiny_checkpoint, "torch") as torch_backend:
        np.testing.assert_allclose(torch_backend.infer(x), ref, atol=1e-6)


def test_export_command_prints_parity(tiny_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "m.onnx"
    assert export_main([str(tiny_checkpoint), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "onnx.checker: ok" in text
    diff = float(text.rsplit("max abs diff:", 1)[1].split()[0])
    assert diff < 1e-4
    assert out.is_file()


def test_export_of_a_missing_checkpoint_fails_cleanly(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert export_main([str(tmp_path / "none.pt"), "--out", str(tmp_path / "m.onnx")]) != 0
    err = capsys.readouterr().err
    assert "does not exist" in err and "Traceback" not in err
    assert not (tmp_path / "m.onnx").exists()


def test_fp16_overflow_fails_the_parity_check(tiny_checkpoint: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture) -> None:
    pytest.importorskip("onnxconverter_common")
    from engine.checkpoint import save_checkpoint

    model, meta = load_checkpoint(tiny_checkpoint)
    with torch.no_grad():
        model.stem[0].weight.mul_(1e5)  # the stem's output now exceeds FP16's 65504
    loud = tmp_path / "loud.pt"
    save_checkpoint(loud, model, meta)
    out = tmp_path / "loud16.onnx"
    assert export_main([str(loud), "--out", str(out), "--fp16"]) == 3
    err = capsys.readouterr().err
    assert "parity check failed" in err and "FP16 overflow" in err and "Traceback" not in err
    assert not out.exists()
