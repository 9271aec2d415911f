"""Failed writes and leftovers: a full disk publishes nothing and keeps earlier outputs; killed
runs' temporaries are cleaned; an early failure leaves no empty output folder."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from engine.atomic import TempFile, remove_stale_temps
from engine.commands.annotate import main as annotate
from engine.errors import InputError, OutputError
from engine.video_writer import AtomicVideoWriter, count_video_frames


@pytest.fixture(scope="module")
def short_clip(clip_excerpt) -> Path:
    return clip_excerpt(12, "short.mp4")


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_video_writer_notices_what_opencv_does_not_say(small_tmpfs) -> None:
    # Random frames do not compress: 1 MB holds a few of them. OpenCV logs "Failed to write frame"
    # for the rest and leaves a file without an index; the writer must refuse to publish it.
    disk = small_tmpfs("1m")
    writer = AtomicVideoWriter(disk / "clip.mp4", 30.0, (320, 240))
    rng = np.random.default_rng(0)
    for _ in range(40):
        writer.write(rng.integers(0, 256, (240, 320, 3), dtype=np.uint8))
    with pytest.raises(OutputError, match=r"clip\.mp4: the encoder stored \d+ of 40 frames \(is the disk full\?\)"):
        writer.close()
    assert listing(disk) == []


def test_full_disk_stops_early_and_keeps_the_earlier_outputs(short_clip: Path, small_tmpfs,
                                                             capsys: pytest.CaptureFixture) -> None:
    disk = small_tmpfs("3m")
    # A good earlier result under the same names, small enough to leave most of the 3 MB free.
    for name, text in (("short.json", '{"complete": true}\n'), ("short.csv", "frame\n"), ("short.mp4", "video")):
        (disk / name).write_text(text)
    before = digests(disk)
    code = annotate([str(short_clip), "--out", str(disk), "--render", "--quiet"])
    err = capsys.readouterr().err
    assert code == OutputError.exit_code, err
    lines = err.strip().splitlines()
    assert lines[-1].startswith("hgpose annotate: error: ") and "nearly full" in lines[-1], err
    assert "stopped after 0 frames; nothing written, earlier outputs left as they were" in lines[-1]
    assert "Traceback" not in err
    assert digests(disk) == before  # no temporaries, nothing replaced


def test_a_disk_that_fills_during_the_run_publishes_nothing(short_clip: Path, small_tmpfs,
                                                           monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture) -> None:
    # Free space runs out mid-run (another writer on the disk): the guard stops the run after the
    # frames that fitted, and the earlier outputs stay.
    import engine.free_space as free_space

    disk = small_tmpfs("8m")
    (disk / "short.json").write_text("earlier")
    calls = []

    def shrinking(directory: Path) -> int:
        calls.append(directory)
        return 64 << 20 if len(calls) <= 5 else 1 << 20

    monkeypatch.setattr(free_space, "free_bytes", shrinking)
    code = annotate([str(short_clip), "--out", str(disk), "--render", "--quiet"])
    err = capsys.readouterr().err
    assert code == OutputError.exit_code and "stopped after 5 frames" in err, err
    assert listing(disk) == ["short.json"] and (disk / "short.json").read_text() == "earlier"


def test_stale_temporaries_of_a_killed_run_are_removed(short_clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    # What a killed run leaves: its temporaries, no longer locked by anyone.
    for name in (".short-abcd1234.mp4", ".short-x_y9z0w1.json", ".short-k2m3n4p5.frames.jsonl"):
        (out / name).write_bytes(b"half")
    (out / ".short-notours.txt").write_text("not a temporary of ours")
    (out / ".other-abcd1234.mp4").write_text("another output's")
    live = TempFile(out / "short.csv")  # one that a running process holds: kept
    try:
        assert annotate([str(short_clip), "--out", str(out), "--quiet"]) == 0
        assert listing(out) == sorted([".other-abcd1234.mp4", ".short-notours.txt", live.path.name,
                                       "short.csv", "short.json"])
    finally:
        live.remove()
    assert remove_stale_temps(out, "short") == []


def test_a_temporary_is_locked_while_it_lives(tmp_path: Path) -> None:
    temp = TempFile(tmp_path / "a.mp4")
    assert remove_stale_temps(tmp_path, "a") == [] and temp.path.exists()
    temp.release()  # as if its process died
    assert remove_stale_temps(tmp_path, "a") == [temp.path] and listing(tmp_path) == []


@pytest.mark.parametrize(("args", "message"), [
    (["--model", "missing.onnx"], "does not exist"),
    (["--backend", "cuda9000"], "unknown backend"),
])
def test_an_early_failure_leaves_no_output_folder(args: list[str], message: str, short_clip: Path,
                                                  tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "new" / "out"
    assert annotate([str(short_clip), "--out", str(out), "--quiet", *args]) != 0
    assert message in capsys.readouterr().err
    assert listing(tmp_path) == []  # neither out nor the parent it created


def test_an_early_failure_keeps_an_existing_output_folder(short_clip: Path, tmp_path: Path) -> None:
    assert annotate([str(short_clip), "--out", str(tmp_path), "--quiet", "--backend", "cuda9000"]) != 0
    assert tmp_path.is_dir()


def test_a_one_pixel_image_with_render_names_the_problem(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    cv2.imwrite(str(tmp_path / "dot.png"), np.full((1, 1, 3), 128, np.uint8))
    out = tmp_path / "out"
    assert annotate([str(tmp_path / "dot.png"), "--out", str(out), "--render", "--quiet"]) == InputError.exit_code
    err = capsys.readouterr().err
    assert err.strip() == (f"hgpose annotate: error: {tmp_path / 'dot.png'} is 1x1 pixels: too small to render a "
                           "video (--render needs at least 2x2)")
    assert not out.exists()
    with pytest.raises(OutputError, match="1x1 pixels is too small to encode"):
        AtomicVideoWriter(tmp_path / "dot.mp4", 5.0, (1, 1))
    assert listing(tmp_path) == ["dot.png"]


def test_ctrl_c_partial_write_holds_what_the_journal_held(short_clip: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # An interruption after 7 frames (in-process, deterministic): complete-so-far files, no journal.
    from engine.annotations import AnnotationLog

    real_add = AnnotationLog.add

    def add(self: AnnotationLog, *args, **kwargs):
        if self.count == 7:
            raise KeyboardInterrupt
        return real_add(self, *args, **kwargs)

    monkeypatch.setattr(AnnotationLog, "add", add)
    assert annotate([str(short_clip), "--out", str(tmp_path), "--render", "--quiet"]) == 130
    doc = json.loads((tmp_path / "short.json").read_text())
    assert doc["complete"] is False and len(doc["frames"]) == 7
    assert count_video_frames(tmp_path / "short.mp4") == 7
    assert listing(tmp_path) == ["short.csv", "short.json", "short.mp4"]
    assert not any(os.fspath(p).endswith(".jsonl") for p in tmp_path.iterdir())


def test_a_killed_run_leaves_temporaries_that_the_next_run_removes(bundled_clip: Path, short_clip: Path,
                                                                   tmp_path: Path) -> None:
    import subprocess
    import sys
    import time

    long_input, short_input = tmp_path / "a" / "walk.mp4", tmp_path / "b" / "walk.mp4"  # one output stem
    long_input.parent.mkdir()
    short_input.parent.mkdir()
    long_input.symlink_to(bundled_clip)
    short_input.symlink_to(short_clip)
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "engine.cli", "annotate", str(long_input), "--out", str(out),
                             "--render", "--quiet"], stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert proc.stderr is not None
    proc.stderr.readline()  # "hgpose annotate: <backend>": its temporaries are being written
    time.sleep(0.5)
    proc.kill()  # SIGKILL: no handler runs, nothing is cleaned up
    proc.communicate(timeout=30)
    left = [p.name for p in out.iterdir()]
    assert left and all(name.startswith(".walk-") for name in left), left
    assert annotate([str(short_input), "--out", str(out), "--render", "--quiet"]) == 0
    assert listing(out) == ["walk.csv", "walk.json", "walk.mp4"]


def test_a_temporary_removed_before_it_was_locked_is_made_again(tmp_path: Path, monkeypatch) -> None:
    # Another run's sweep can delete a temporary in the moment between mkstemp and flock; the
    # writer must notice (its descriptor would point at an unlinked file) and make a new one.
    import tempfile

    real, made = tempfile.mkstemp, []

    def swept_once(*args, **kwargs):
        fd, name = real(*args, **kwargs)
        made.append(name)
        if len(made) == 1:
            os.unlink(name)  # the sweep got there first
        return fd, name

    monkeypatch.setattr(tempfile, "mkstemp", swept_once)
    temp = TempFile(tmp_path / "a.mp4")
    try:
        assert len(made) == 2 and temp.path == Path(made[1]) and temp.path.exists()
        assert os.path.samestat(os.fstat(temp.fd), os.stat(temp.path))
    finally:
        temp.remove()


def test_stale_temporaries_can_be_matched_by_a_stem_pattern(tmp_path: Path) -> None:
    import re

    for name in (".rec-20261130-101500-abcd1234.mp4", ".rec-20261130-101500-3-abcd1234.frames.jsonl",
                 ".rec-abcd1234.mp4", ".rec-2026-abcd1234.mp4"):
        (tmp_path / name).write_bytes(b"half")
    removed = remove_stale_temps(tmp_path, re.compile(r".+-\d{8}-\d{6}(?:-\d+)?"))
    assert sorted(p.name for p in removed) == [".rec-20261130-101500-3-abcd1234.frames.jsonl",
                                               ".rec-20261130-101500-abcd1234.mp4"]
    assert listing(tmp_path) == [".rec-2026-abcd1234.mp4", ".rec-abcd1234.mp4"]


def test_a_file_system_without_locks_is_an_output_error_that_leaves_nothing(tmp_path: Path, monkeypatch) -> None:
    import errno

    import engine.atomic as atomic

    def no_locks(fd: int, op: int) -> None:
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(atomic.fcntl, "flock", no_locks)
    with pytest.raises(OutputError, match="No locks available"):
        TempFile(tmp_path / "a.mp4")
    assert listing(tmp_path) == []
