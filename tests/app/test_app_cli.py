"""``hgpose app`` on the command line: one-line errors, and the headless automation run."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from PyQt6.QtGui import QImage

from app.cli import main


@pytest.mark.parametrize(("args", "code", "words"), [
    (["--source", "/nonexistent/clip.mp4"], 2, "does not exist"),
    (["--model", "/nonexistent/model.onnx"], 3, "model"),
    (["--backend", "warp-drive"], 4, "unknown backend"),
    (["--window-size", "big"], 6, "WIDTHxHEIGHT"),
    (["--max-frames", "0"], 6, "argument --max-frames: must be at least 1, got 0"),
    (["--screenshot", "x.png"], 6, "--max-frames"),
    (["--threshold", "1.5"], 6, "argument --threshold: must be from 0 to 1, got 1.5"),
    (["--threshold", "nan"], 6, "argument --threshold: expected a number from 0 to 1, got 'nan'"),
    (["--speed", "-1"], 6, "argument --speed: must be 0 or more, got -1"),
    (["--speed", "inf"], 6, "argument --speed: expected a number of 0 or more, got 'inf'"),
])
def test_bad_input_is_one_line(args, code, words, refused):
    got, err = refused(main, args)
    assert got == code and err.startswith("hgpose app: error: ") and words in err


def test_out_has_its_former_spelling(tmp_path):
    from app.cli import build_parser

    assert build_parser().parse_args(["--output-dir", str(tmp_path)]).out == tmp_path


def test_corrupt_source_and_model(tmp_path, capsys):
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"garbage" * 100)
    assert main(["--source", str(clip)]) == 2
    model = tmp_path / "m.onnx"
    model.write_bytes(b"garbage" * 100)
    assert main(["--model", str(model)]) == 3
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and all(line.startswith("hgpose app: error: ") for line in err)


def _run(*args: str, cwd) -> subprocess.CompletedProcess:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    return subprocess.run([sys.executable, "-m", "app", *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=120)


def test_automation_screenshot(tmp_path):
    shot = tmp_path / "shot.png"
    proc = _run("--max-frames", "4", "--screenshot", str(shot), "--window-size", "960x600", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "hgpose app: 4 frames processed" in proc.stdout and "display" in proc.stdout
    img = QImage(str(shot))
    assert (img.width(), img.height()) == (960, 600)


def test_automation_with_an_absent_camera_fails_cleanly(tmp_path):
    proc = _run("--source", "99", "--max-frames", "3", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("hgpose app: error: camera 99 is not available")
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(("args", "mode"), [([], "unsure"), (["--flip"], "on"), (["--no-flip"], "off"),
                                            (["--flip-unsure"], "unsure")])
def test_the_flip_mode_to_start_with(args, mode):
    from app.cli import build_parser

    assert build_parser().parse_args(args).flip == mode
