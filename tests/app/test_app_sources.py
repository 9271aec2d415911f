"""Image folders, drag-and-drop, and the option toggles reaching the pipeline."""

from __future__ import annotations

import cv2
import pytest
from app_testing import wait_frames, wait_idle
from PyQt6.QtCore import QMimeData, QPointF, Qt, QUrl
from PyQt6.QtGui import QDropEvent

from app.readers import open_reader
from app.source_dialogs import CameraDialog
from app.source_spec import SourceSpec, parse_source


@pytest.fixture
def image_folder(tmp_path, clip_path):
    folder = tmp_path / "stills"
    folder.mkdir()
    reader = open_reader(SourceSpec("video", str(clip_path)))
    for _ in range(3):
        index, img, _ = reader.read()
        cv2.imwrite(str(folder / f"frame{index}.jpg"), cv2.resize(img, (320, 180)))
    reader.close()
    (folder / "notes.txt").write_text("not an image")
    return folder


def test_parse_source(tmp_path, image_folder):
    assert parse_source("0") == SourceSpec("camera", "0")
    assert parse_source("rtsp://cam/stream").kind == "url"
    assert parse_source(str(image_folder)).kind == "folder"
    assert parse_source("a.PNG").kind == "image" and parse_source("a.mp4").kind == "video"


def test_image_folder_plays_as_stills(make_window, qtbot, image_folder):
    w = make_window(source=SourceSpec("folder", str(image_folder)), loop=False)
    qtbot.waitUntil(lambda: not w.transport.play.isChecked(), timeout=20_000)  # the end of 3 images
    wait_idle(qtbot, w)
    out = w.last_output
    assert (out.packet.index, out.packet.name) == (2, "frame2.jpg")
    assert out.packet.jump and w.source_info.stills and w.transport.position.text() == "3 / 3"


def test_drop_a_file_opens_it(make_window, qtbot, image_folder):
    w = make_window()
    wait_frames(qtbot, w, 1)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(image_folder / "frame1.jpg"))])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
                       Qt.KeyboardModifier.NoModifier)
    w.dropEvent(event)
    qtbot.waitUntil(lambda: w.last_output is not None and w.last_output.packet.name == "frame1.jpg",
                    timeout=20_000)
    assert w.source_info.kind == "image"


def test_toggles_reach_the_pipeline_and_the_overlay(make_window, qtbot):
    w = make_window()
    wait_frames(qtbot, w, 1)
    assert w.worker.pipeline.config.flip_when_unsure  # the app's default
    w.settings.set_flip_mode("on")
    w.settings.smoothing_box.setChecked(False)
    w.settings.roi.setChecked(True)
    w.settings.threshold.setValue(0)
    wait_frames(qtbot, w, 2)
    config = w.worker.pipeline.config
    assert config.flip_test and not config.flip_when_unsure and not config.smoothing.enabled
    assert w.canvas.overlay.show_box and w.worker.overlay.threshold == 0.0
    # With threshold 0 every angle whose joints do not coincide is defined and shown.
    out = w.last_output
    for name, value in out.angles.items():
        assert w.angle_readout.value_text(name) == (f"{value:.0f}°" if value == value else "–")


def test_camera_dialog_probes_off_the_ui_thread(qtbot):
    dialog = CameraDialog()
    qtbot.addWidget(dialog)
    qtbot.waitUntil(dialog.probe.isFinished, timeout=20_000)
    qtbot.waitUntil(lambda: dialog.note.text() != "Looking for cameras…", timeout=5_000)
    dialog.resolution.setCurrentIndex(2)
    assert dialog.spec() == SourceSpec("camera", dialog.index.currentText(), (1280, 720))
    dialog.reject()
    assert dialog.probe.isFinished()


def test_idle_again_after_each_new_source(make_window, qtbot, image_folder):
    # Counters that restart with each source must agree with those that do not (frames taken from the
    # slot), or the app never looks idle after the second source and an automated run never ends.
    w = make_window(source=SourceSpec("image", str(image_folder / "frame0.jpg")))
    wait_idle(qtbot, w)
    for name in ("frame1.jpg", "frame2.jpg"):
        w.open_source(SourceSpec("image", str(image_folder / name)))
        qtbot.waitUntil(lambda name=name: w.last_output is not None and w.last_output.packet.name == name,
                        timeout=20_000)
        wait_idle(qtbot, w)
        assert w.worker.processed == w.last_output.processed == 1


def test_a_cut_video_shows_its_real_length(make_window, qtbot, truncated_clip):
    # The container promises 40 frames, about half decode: once playback meets the real end, the
    # slider and the label show the frames the file holds, and playback loops over just those.
    from engine.video_writer import count_video_frames

    real = count_video_frames(truncated_clip)
    w = make_window(SourceSpec("video", str(truncated_clip)), speed=0.0)
    qtbot.waitUntil(lambda: w.transport.slider.maximum() == 39, timeout=30_000)
    qtbot.waitUntil(lambda: w.transport.slider.maximum() == real - 1, timeout=60_000)
    assert f"· {real} frames" in w.source_label.text()
    assert f"holds {real} of the 40 frames" in w.status.currentMessage()
    w.set_playing(False)
    wait_idle(qtbot, w)
    assert w.transport.position.text().endswith(f"/ {real}")
