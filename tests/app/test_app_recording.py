"""Recording writes an MP4 and the annotate schema's JSON/CSV with the same frames; screenshots."""

from __future__ import annotations

import csv
import json

from app_testing import wait_frames
from PyQt6.QtGui import QImage

from engine.annotations import SCHEMA
from engine.video_writer import count_video_frames


def test_recording_video_matches_keypoints(make_window, qtbot):
    w = make_window()
    wait_frames(qtbot, w, 1)
    w.settings.record.click()  # the user's Record button
    assert w.settings.record.isChecked()
    start = w.worker.processed
    qtbot.waitUntil(lambda: w.worker.processed >= start + 12, timeout=30_000)
    w.settings.record.click()
    qtbot.waitUntil(lambda: w.last_recording is not None, timeout=10_000)
    assert not w.settings.record.isChecked()
    rec = w.last_recording
    doc = json.loads(rec.json_path.read_text())
    frames = doc["frames"]
    assert rec.frames == len(frames) >= 11  # the frame in flight at the click may be the one before the start
    assert count_video_frames(rec.video_path) == len(frames)
    assert doc["schema"] == SCHEMA and doc["complete"] is True
    assert doc["source"]["kind"] == "video" and doc["source"]["width"] == 1280
    assert doc["model"]["backend"] == "onnxruntime"
    assert doc["model"]["flip_test"] is False  # the live app's default: one read, two where unsure
    assert doc["model"]["flip_mode"] == "unsure"
    indices = [f["index"] for f in frames]
    assert indices == list(range(indices[0], indices[0] + len(indices)))  # a file: every frame
    assert set(frames[0]["angles"]) == set(doc["skeleton"]["angles"]) and len(doc["skeleton"]["angles"]) == 8
    with rec.csv_path.open() as f:
        rows = list(csv.reader(f))
    assert len(rows) == len(frames) + 1 and "angle_r_knee" in rows[0]
    assert rec.video_path.parent == w.settings.output_dir


def test_recording_finishes_on_close(make_window, qtbot):
    w = make_window()
    wait_frames(qtbot, w, 1)
    # What an app killed mid-recording left (no live process holds them), and a hidden file of the
    # user's that only looks alike: the next recording sweeps up the first two.
    out = w.settings.output_dir
    out.mkdir(parents=True, exist_ok=True)
    stale = [out / ".clip-20261130-101500-abcd1234.mp4", out / ".clip-20261130-101500-2-x_y9z0w1.frames.jsonl"]
    for path in stale:
        path.write_bytes(b"half")
    (out / ".notes-abcd1234.txt").write_text("the user's")
    w.set_recording(True)
    start = w.worker.processed
    qtbot.waitUntil(lambda: w.worker.processed >= start + 4, timeout=30_000)
    w.close()
    videos = list(w.settings.output_dir.glob("*.mp4"))
    assert len(videos) == 1
    doc = json.loads(videos[0].with_suffix(".json").read_text())
    assert count_video_frames(videos[0]) == len(doc["frames"]) >= 3
    assert not any(path.exists() for path in stale) and (out / ".notes-abcd1234.txt").exists()


def test_screenshot_button(make_window, qtbot):
    w = make_window()
    wait_frames(qtbot, w, 1)
    path = w.save_screenshot()
    assert path is not None and path.parent == w.settings.output_dir
    img = QImage(str(path))
    assert (img.width(), img.height()) == (w.width(), w.height())


def test_unwritable_output_shows_an_error(make_window, qtbot, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the output folder should be")
    w = make_window()
    w.settings.output_dir = blocker / "out"
    wait_frames(qtbot, w, 1)
    w.set_recording(True)
    qtbot.waitUntil(lambda: "recording failed" in w.banner.message, timeout=15_000)
    qtbot.waitUntil(lambda: not w.settings.record.isChecked(), timeout=5_000)
    wait_frames(qtbot, w, 2)  # still running
    assert w.last_recording is None


def test_a_full_disk_stops_the_recording_with_a_banner(make_window, qtbot, small_tmpfs):
    disk = small_tmpfs("1m")  # less than the reserve a recording keeps free: it stops at once
    (disk / "earlier.json").write_text("an earlier recording")
    w = make_window()
    w.settings.output_dir = disk
    wait_frames(qtbot, w, 1)
    w.set_recording(True)
    qtbot.waitUntil(lambda: "recording failed" in w.banner.message, timeout=15_000)
    assert "nearly full" in w.banner.message and "nothing written" in w.banner.message
    qtbot.waitUntil(lambda: not w.settings.record.isChecked(), timeout=5_000)
    wait_frames(qtbot, w, 2)  # the app goes on
    assert w.last_recording is None
    assert sorted(p.name for p in disk.iterdir()) == ["earlier.json"]
