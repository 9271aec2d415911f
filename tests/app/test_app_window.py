"""The window on the bundled clip: frames flow, the overlay is drawn, pause, seek and step work."""

from __future__ import annotations

import json
import re

import cv2
import numpy as np
import pytest
from app_testing import grab_rgb, wait_frames, wait_idle

from engine.crop import CropBox
from engine.pipeline import PoseResult


def _fps(text: str) -> float:
    match = re.search(r"(\d+\.\d) FPS", text)
    assert match, text
    return float(match.group(1))


def test_frames_flow_and_stats_update(make_window, qtbot):
    w = make_window()
    assert w.display_fps_label.text() == "Display – FPS"
    wait_frames(qtbot, w, 6)
    assert _fps(w.display_fps_label.text()) > 0
    assert _fps(w.infer_fps_label.text()) > 0
    assert re.fullmatch(r"Latency \d+ ms", w.latency_label.text())
    assert w.drops_label.text() == "Dropped 0"  # a file waits for inference: nothing is dropped
    assert "onnxruntime" in w.model_label.text() and "hg3-w128-128" in w.model_label.text()
    assert w.model_label.text().endswith("· int8")  # auto on the CPU runs the bundled INT8 file
    assert "1280×720" in w.source_label.text()
    out = w.last_output
    assert out is not None and out.result.keypoints.shape == (out.skeleton.num_joints, 3)
    assert set(out.angles) == {a[0] for a in out.skeleton.angles}
    assert len(w.angle_plot.series()[0]) > 0


def _shade(bgr: tuple[int, int, int], confidence: float) -> np.ndarray:
    """The joint colour rule of engine.render: blend toward grey as confidence drops (BGR)."""
    t = float(np.clip(confidence, 0.0, 1.0))
    return np.array([round(c * t + 128 * (1 - t)) for c in bgr], dtype=float)


def test_overlay_drawn_at_keypoints(make_window, qtbot):
    # The preliminary model is unsure of everything: threshold 0 so that every joint is drawn.
    w = make_window(threshold=0.0)
    wait_frames(qtbot, w, 2)
    w.set_playing(False)
    wait_idle(qtbot, w)
    out = w.last_output
    kps, skeleton = out.result.keypoints, out.skeleton
    drawn = w.canvas.annotated_frame()
    # Joints are drawn in index order, so the last one's centre shows its own shaded colour.
    j = skeleton.num_joints - 1
    x, y = (round(v) for v in kps[j, :2])
    expected = _shade(skeleton.joint_colour(j), float(kps[j, 2]))
    assert np.abs(drawn[y, x].astype(float) - expected).max() <= 2
    assert not np.array_equal(drawn, out.packet.image)

    # On screen, with a pose the test controls: confident joints in their side's pure colour.
    h, wd = out.packet.image.shape[:2]
    fake = np.zeros_like(kps)
    for i in range(skeleton.num_joints):
        fake[i] = (wd * (0.15 + 0.7 * i / skeleton.num_joints), h * 0.5 + 120 * ((i % 3) - 1), 1.0)
    result = PoseResult(0, 0.0, fake, CropBox(wd / 2, h / 2, h), "tracking", True, {})
    w.canvas.show_frame(out.packet.image, result, skeleton)
    screen = grab_rgb(w.canvas)
    for i in range(skeleton.num_joints):
        p = w.canvas.map_from_frame(*fake[i, :2])
        px = screen[round(p.y()), round(p.x())].astype(float)
        rgb = np.array(skeleton.joint_colour(i)[::-1], dtype=float)
        assert np.abs(px - rgb).max() <= 24, (skeleton.joints[i], px, rgb)
    # Above the threshold only: hiding everything leaves the plain frame.
    w.settings.threshold.setValue(100)
    fake[:, 2] = 0.5
    w.canvas.show_frame(out.packet.image, result, skeleton)
    np.testing.assert_array_equal(w.canvas.annotated_frame(), out.packet.image)


def _decode(path, index: int) -> np.ndarray:
    cap = cv2.VideoCapture(str(path))
    for _ in range(index):
        assert cap.grab()
    ok, img = cap.read()
    cap.release()
    assert ok
    return img


def test_pause_seek_and_step(make_window, qtbot, clip_path):
    w = make_window()
    wait_frames(qtbot, w, 3)
    w.set_playing(False)
    wait_idle(qtbot, w)
    index, processed = w.last_output.packet.index, w.worker.processed
    qtbot.wait(400)
    assert (w.last_output.packet.index, w.worker.processed) == (index, processed)

    w.transport.slider.setValue(200)  # the user's seek
    qtbot.waitUntil(lambda: w.last_output.packet.index == 200, timeout=20_000)
    wait_idle(qtbot, w)
    assert w.last_output.packet.index == 200 and w.transport.position.text() == "201 / 401"
    assert np.abs(w.last_output.packet.image.astype(int) - _decode(clip_path, 200)).mean() < 0.5
    w.step(1)
    qtbot.waitUntil(lambda: w.last_output.packet.index == 201, timeout=20_000)
    w.step(-1)
    qtbot.waitUntil(lambda: w.last_output.packet.index == 200, timeout=20_000)
    assert w.transport.slider.value() == 200

    w.set_playing(True)
    qtbot.waitUntil(lambda: w.last_output.packet.index > 202, timeout=20_000)


def test_loop_and_end(make_window, qtbot):
    w = make_window(speed=0.0)
    wait_frames(qtbot, w, 1)
    # The display shows the newest result only, so follow the loop through a recording, which
    # holds every processed frame.
    w.set_recording(True)
    start = w.worker.processed
    w.seek(397)
    qtbot.waitUntil(lambda: w.worker.processed > start + 7 and w.last_output.packet.index < 300, timeout=20_000)
    w.set_recording(False)
    qtbot.waitUntil(lambda: w.last_recording is not None, timeout=10_000)
    indices = [f["index"] for f in json.loads(w.last_recording.json_path.read_text())["frames"]]
    wrap = indices.index(400)
    assert indices[wrap - 3:wrap + 3] == [397, 398, 399, 400, 0, 1]

    w.transport.loop.setChecked(False)
    w.seek(399)
    qtbot.waitUntil(lambda: not w.transport.play.isChecked(), timeout=20_000)  # ended: paused
    wait_idle(qtbot, w)
    assert w.last_output.packet.index == 400


@pytest.mark.parametrize(("speed", "text"), [(1.5, "1.5×"), (0.0, "Max"), (2.0, "2×"), (8.0, "8×")])
def test_the_speed_box_shows_the_speed_in_force(make_window, speed, text):
    w = make_window(speed=speed)
    assert w.transport.speed.currentText() == text
    assert w.transport.speed_value() == w.playback.speed == speed
    values = [w.transport.speed.itemData(i) for i in range(w.transport.speed.count())]
    assert values[:-1] == sorted(values[:-1]) and values[-1] == 0.0  # in order, "Max" last


@pytest.mark.parametrize(("mode", "flip_test", "when_unsure"), [("on", True, False), ("off", False, False),
                                                                 ("unsure", False, True)])
def test_flip_option_starts_the_flip_mode(make_window, qtbot, mode, flip_test, when_unsure):
    w = make_window(flip=mode)
    assert w.settings.flip_mode == mode and w.settings.flip_box.currentData() == mode
    config = w.worker.pipeline.config
    assert (config.flip_test, config.flip_when_unsure) == (flip_test, when_unsure)
    wait_frames(qtbot, w, 2)
    assert f"flip test {mode}" in w.summary() and "(int8)" in w.summary()


def test_zoom_test_option_and_box_reach_the_pipeline(make_window, qtbot):
    w = make_window(zoom_test=True)
    assert w.settings.zoom_box.isChecked() and w.worker.pipeline.config.zoom_test is True
    w.settings.set_flip_mode("on")  # the settings panel rebuilds the config; the zoom test stays
    assert w.pipeline_config().zoom_test is True and w.pipeline_config().flip_test is True
    plain = make_window()
    assert not plain.settings.zoom_box.isChecked() and plain.pipeline_config().zoom_test is False
    plain.settings.zoom_box.setChecked(True)  # the box, as a user ticks it
    qtbot.waitUntil(lambda: plain.worker.pipeline.config.zoom_test is True, timeout=5000)
