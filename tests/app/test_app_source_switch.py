"""Switching sources: nothing of the old source stays on screen, and the status bar reads clearly."""

from __future__ import annotations

from app_testing import FRAME_TIMEOUT_MS, wait_frames

from app.angle_plot import angle_names
from app.main_window import IDLE_STATS
from app.source_spec import SourceSpec
from engine.skeleton import LSP14

ANGLES = angle_names(LSP14)


def test_a_failed_switch_clears_what_the_old_source_showed(make_window, qtbot, tmp_path):
    w = make_window()
    wait_frames(qtbot, w, 1)
    w.seek(150)  # the walker is in full view there (the clip's first ~40 frames show no angle)
    qtbot.waitUntil(lambda: any(w.angle_readout.value_text(name) != "–" for name in ANGLES),
                    timeout=2 * FRAME_TIMEOUT_MS)
    shown = [w.display_fps_label, w.infer_fps_label, w.latency_label]
    assert w.transport.position.text() != "–" and w.transport.slider.isEnabled()
    assert all(label.text() not in IDLE_STATS for label in shown)
    assert len(w.angle_plot.series()[0]) > 0

    corrupt = tmp_path / "sub" / "corrupt.mp4"
    corrupt.parent.mkdir()
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40)
    w.open_source(SourceSpec("video", str(corrupt)))
    qtbot.waitUntil(lambda: w.banner.isVisible(), timeout=15_000)

    assert str(corrupt) in w.banner.message  # the full path, as every banner names files
    assert w.transport.position.text() == "–"
    assert not w.transport.slider.isEnabled() and w.transport.slider.value() == 0
    assert [label.text() for label in (*shown, w.drops_label)] == list(IDLE_STATS)
    assert len(w.angle_plot.series()[0]) == 0
    assert all(w.angle_readout.value_text(name) == "–" for name in ANGLES)


def test_the_status_bar_separates_source_and_model(make_window, qtbot):
    w = make_window()
    wait_frames(qtbot, w, 1)
    qtbot.waitUntil(lambda: "frames" in w.source_label.text() and "onnxruntime" in w.model_label.text(),
                    timeout=10_000)
    source, rule, model = (x.geometry() for x in (w.source_label, w.status_separator, w.model_label))
    assert w.status_separator.isVisible() and source.right() < rule.left() <= rule.right() < model.left()


def test_banners_name_files_by_their_path_and_live_sources_by_label() -> None:
    assert SourceSpec("video", "/data/clips/run.mp4").in_messages == "/data/clips/run.mp4"
    assert SourceSpec("video", "/data/clips/run.mp4").label == "run.mp4"  # the status bar stays short
    assert SourceSpec("folder", "shots").in_messages == "shots"
    assert SourceSpec("camera", "0", (640, 480)).in_messages == "camera 0 at 640x480"
    assert SourceSpec("url", "rtsp://cam/1").in_messages == "rtsp://cam/1"
