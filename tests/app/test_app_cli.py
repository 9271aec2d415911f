"""``hgpose app`` on the command line: one-line errors, and the headless automation run."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

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
    (["--max-frames", "2", "--screenshot", "x.gif"], 6, "cannot save screenshot x.gif as .gif; name it .png"),
    (["--max-frames", "2", "--screenshot", "shot"], 6, "screenshot shot: no suffix"),
    (["--max-frames", "2", "--screenshot", "/dev/null/shot.png"], 5, "/dev/null is a file, not a folder"),
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


def _wait_until_running(proc: subprocess.Popen, timeout: float = 60.0) -> None:
    """Until the app's capture thread exists (Qt names the OS thread after it): by then the signal
    handlers are installed, and the event loop is about to run."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        with contextlib.suppress(OSError):  # a thread ending while its folder is read
            names = {(task / "comm").read_text().strip() for task in Path(f"/proc/{proc.pid}/task").iterdir()}
            if "hgpose-capture" in names:
                return
        time.sleep(0.1)
    proc.kill()
    pytest.fail(f"the app did not start in {timeout:.0f} s: {proc.communicate()}")


def _interrupt(*args: str, signum: int, cwd: Path) -> tuple[int, str, str]:
    """Start ``hgpose app ARGS``, send ``signum`` once it runs; (exit code, stdout, stderr)."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.Popen([sys.executable, "-m", "app", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, cwd=cwd)
    try:
        _wait_until_running(proc)
        time.sleep(0.5)  # a few frames in
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    return proc.returncode, out, err


needs_proc = pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux's /proc to see the app start")


@needs_proc
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_automated_run_exits_130_and_writes_no_screenshot(tmp_path, signum):
    shot = tmp_path / "shot.png"
    shot.write_bytes(b"an earlier screenshot")
    code, out, err = _interrupt("--max-frames", "100000", "--screenshot", str(shot), "--speed", "0",
                                signum=signum, cwd=tmp_path)
    assert code == 130, err
    assert out == "" and err.count("\n") == 1, err
    assert re.fullmatch(rf"hgpose app: interrupted; \d+ of 100000 frames processed; "
                        rf"no screenshot was written to {re.escape(str(shot))}\n", err), err
    assert shot.read_bytes() == b"an earlier screenshot"
    assert [p.name for p in tmp_path.iterdir()] == ["shot.png"]  # no temporary either


@needs_proc
def test_an_interrupted_app_exits_130(tmp_path):
    code, out, err = _interrupt(signum=signal.SIGINT, cwd=tmp_path)
    assert (code, out, err) == (130, "", "hgpose app: interrupted\n")


def test_automation_with_an_absent_camera_fails_cleanly(tmp_path):
    proc = _run("--source", "99", "--max-frames", "3", cwd=tmp_path)
    assert proc.returncode == 2
    # One line, ours: OpenCV's own "Camera index out of range" is silenced while the camera opens.
    assert proc.stderr.strip().splitlines() == [
        "hgpose app: error: camera 99 is not available (unplugged, in use, or no such index)"], proc.stderr


@pytest.mark.parametrize(("args", "mode"), [([], "unsure"), (["--flip"], "on"), (["--no-flip"], "off"),
                                            (["--flip-unsure"], "unsure")])
def test_the_flip_mode_to_start_with(args, mode):
    from app.cli import build_parser

    assert build_parser().parse_args(args).flip == mode


def test_the_zoom_test_is_off_in_the_app_unless_asked_for():
    from app.cli import build_parser

    assert build_parser().parse_args([]).zoom_test is False
    assert build_parser().parse_args(["--zoom-test"]).zoom_test is True
