"""``hgpose export --int8``: both files or nothing; refusing blank calibration data and a PCK loss."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest

from engine.metadata import METADATA_KEY, ModelMetadata
from train.commands.export import main as export_main
from train.datasets.lsp import load_lsp
from train.pack import PackSpec, read_pack, write_pack


@pytest.fixture
def blank_pack(tmp_path: Path, lsp_folder: Callable[..., Path]) -> Path:
    """A pack of 12 people whose images are uniform grey: crops that carry no signal."""
    root = lsp_folder(12, name="blank")
    for image in (root / "images").glob("*.jpg"):
        shape = cv2.imread(str(image)).shape
        cv2.imwrite(str(image), np.full(shape, 128, np.uint8))
    return write_pack(load_lsp(root), tmp_path / "blank.npz", PackSpec(pack_size=96), skeleton="lsp14",
                      source="test", progress=False)


def test_int8_export_writes_both_files_with_their_metadata(tiny_checkpoint: Path, tmp_path: Path,
                                                           packs: Callable[..., tuple[Path, Path]],
                                                           capsys: pytest.CaptureFixture) -> None:
    train, val = packs(12)
    out = tmp_path / "m.onnx"
    assert export_main([str(tiny_checkpoint), "--out", str(out), "--int8", "--calibration", str(train),
                        "--val-pack", str(val), "--calibration-crops", "12", "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "int8 QDQ, 12 calibration crops" in text and "PCK@0.2 on" in text
    metas = {}
    for name in ("m.onnx", "m.int8.onnx"):
        proto = onnx.load(str(tmp_path / name))
        metas[name] = ModelMetadata.from_json({p.key: p.value for p in proto.metadata_props}[METADATA_KEY])
    assert metas["m.onnx"].precision == "fp32" and metas["m.int8.onnx"].precision == "int8"
    int8_metrics = metas["m.int8.onnx"].metrics
    found = re.search(r"fp32 ([0-9.]+), int8 ([0-9.]+)", text)
    assert found is not None
    fp32_pck, int8_pck = float(found[1]), float(found[2])
    assert int8_metrics["val_pck@0.2"] == pytest.approx(int8_pck, abs=1e-4)
    assert int8_metrics["fp32_val_pck@0.2"] == pytest.approx(fp32_pck, abs=1e-4)


def test_int8_export_matches_both_thresholds(tiny_checkpoint: Path, tmp_path: Path,
                                             packs: Callable[..., tuple[Path, Path]]) -> None:
    from engine.checkpoint import load_checkpoint, save_checkpoint

    train, val = packs(12)
    model, meta = load_checkpoint(tiny_checkpoint)
    calibrated = tmp_path / "calibrated.pt"
    save_checkpoint(calibrated, model, meta.with_updates(calibration={"joint_threshold": 0.3,
                                                                      "joint_threshold_flip": 0.2}))
    out = tmp_path / "m.onnx"
    assert export_main([str(calibrated), "--out", str(out), "--int8", "--calibration", str(train),
                        "--val-pack", str(val), "--calibration-crops", "12", "--quiet"]) == 0
    proto = onnx.load(str(tmp_path / "m.int8.onnx"))
    int8 = ModelMetadata.from_json({p.key: p.value for p in proto.metadata_props}[METADATA_KEY])
    # Both thresholds travel to the INT8 file, each matched on crops read its own way.
    assert int8.calibration.keys() == {"joint_threshold", "joint_threshold_flip"}
    assert 0.0 < int8.threshold_for(True) < 1.0 and 0.0 < int8.threshold_for(False) < 1.0


def test_blank_calibration_is_refused_and_nothing_written(tiny_checkpoint: Path, tmp_path: Path,
                                                          blank_pack: Path, packs: Callable[..., tuple[Path, Path]],
                                                          capsys: pytest.CaptureFixture) -> None:
    _, val = packs(4)
    out = tmp_path / "m.onnx"
    code = export_main([str(tiny_checkpoint), "--out", str(out), "--int8", "--calibration", str(blank_pack),
                        "--val-pack", str(val), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert "calibration data" in err and "useless: 12 of 12 crops are blank" in err and "Traceback" not in err
    assert not out.exists() and not (tmp_path / "m.int8.onnx").exists()


def test_a_pck_loss_over_the_limit_writes_nothing(tiny_checkpoint: Path, tmp_path: Path,
                                                  packs: Callable[..., tuple[Path, Path]],
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture) -> None:
    import train.int8_export as int8_export

    train, val = packs(8)
    # The gate itself: FP32 finds every joint of the pack, "INT8" (measured second) misplaces every
    # joint of one person in four by a torso length: a loss of 0.25.
    truth = read_pack(val).joints.copy()
    worse = truth.copy()
    worse[::4, :, 0] += 100.0
    preds = iter([(truth, truth), (worse, worse)])  # (without, with the flip test)
    monkeypatch.setattr(int8_export, "_pack_predictions", lambda *_: next(preds))
    out = tmp_path / "m.onnx"
    code = export_main([str(tiny_checkpoint), "--out", str(out), "--int8", "--calibration", str(train),
                        "--val-pack", str(val), "--quiet"])
    err = capsys.readouterr().err
    assert code == 3 and "INT8 loses 0.2500 PCK@0.2" in err and "nothing was written" in err
    assert list(tmp_path.glob("*.onnx")) == []


def test_int8_options_are_checked_first(tiny_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = str(tmp_path / "m.onnx")
    assert export_main([str(tiny_checkpoint), "--out", out, "--int8"]) == 6
    assert "--int8 needs --calibration PACK" in capsys.readouterr().err
    assert export_main([str(tiny_checkpoint), "--out", out, "--int8", "--fp16", "--calibration", "a",
                        "--val-pack", "b"]) == 6
    assert "exclude each other" in capsys.readouterr().err
    assert export_main([str(tiny_checkpoint), "--out", out, "--int8", "--calibration", str(tmp_path / "none.npz"),
                        "--val-pack", str(tmp_path / "none.npz")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "m.onnx").exists()


def test_the_int8_threshold_keeps_as_many_joints_as_fp32() -> None:
    from train.int8_export import matched_threshold

    fp32 = np.random.default_rng(0).uniform(0.0, 1.0, (500, 14))
    int8 = 0.94 * fp32  # INT8 peaks a few per cent lower
    t = matched_threshold(fp32, int8, 0.40)
    assert t == pytest.approx(0.376, abs=0.006)
    assert abs((int8 >= t).mean() - (fp32 >= 0.40).mean()) < 0.01
