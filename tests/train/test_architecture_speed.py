"""Timing an architecture before training it: built, quantised and timed beside the bundled model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from engine.assets import default_clip_path, default_model_path
from engine.backends.onnxruntime_backend import OnnxRuntimeBackend
from engine.errors import ConfigError
from engine.model_file import int8_sibling, read_onnx_metadata
from train.architecture_speed import Architecture, build_int8, central_crops, clip_frames, main


def test_architectures_are_parsed_and_bad_ones_refused() -> None:
    assert Architecture.parse("2x160@128") == Architecture(2, 160, 128)
    assert Architecture.parse("3x128@192").name == "3x128@192"
    for bad in ("2x160", "w160@128", "2x160@", ""):
        with pytest.raises(ConfigError, match="STACKSxWIDTH@INPUT"):
            Architecture.parse(bad)


def test_the_built_model_is_the_architecture_asked_for_quantised_as_the_bundled_one(tmp_path: Path) -> None:
    bundled = int8_sibling(default_model_path())
    crops = central_crops(clip_frames(default_clip_path(), 8), 64)
    assert crops.shape == (8, 64, 64, 3) and crops.std() > 10  # real frames, not blank
    path = build_int8(Architecture(1, 16, 64), read_onnx_metadata(bundled), crops, tmp_path)
    with OnnxRuntimeBackend(path, threads=1) as backend:
        meta = backend.metadata
        assert (meta.precision, meta.config.num_stacks, meta.config.width, meta.input_size) == ("int8", 1, 16, 64)
        assert meta.skeleton == read_onnx_metadata(bundled).skeleton
        assert backend.infer(np.zeros((1, 3, 64, 64), np.float32)).shape == (1, 14, 16, 16)
    ops = {n.op_type for n in onnx.load(str(path)).graph.node}
    assert "QuantizeLinear" in ops and "DequantizeLinear" in ops


def test_each_model_gets_a_row_relative_to_the_bundled_one(capsys: pytest.CaptureFixture[str]) -> None:
    # What the figures mean (a ratio) is for the benchmark to say; here, that every model is timed
    # and reported against the bundled one.
    assert main(["1x16@64", "--rounds", "1", "--iterations", "2"]) == 0
    rows = {line.split()[0]: line.split()[1:] for line in capsys.readouterr().out.splitlines()[1:]}
    assert set(rows) == {"bundled", "1x16@64"}
    assert float(rows["bundled"][1]) == 1.0 and float(rows["1x16@64"][0]) > 0
