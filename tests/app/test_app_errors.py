"""Bad sources and bad models show an error in the window; the app keeps running."""

from __future__ import annotations

import json
import time

import cv2
import numpy as np
from app_testing import wait_frames

from app.readers import FrameReader, ReaderInfo, open_reader
from app.source_spec import SourceSpec
from engine.video_writer import count_video_frames


def test_bad_sources_then_the_bundled_clip(make_window, qtbot, tmp_path):
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40)
    w = make_window(source=SourceSpec("video", str(tmp_path / "missing.mp4")))
    qtbot.waitUntil(lambda: "does not exist" in w.banner.message, timeout=10_000)
    assert w.banner.isVisible() and w.last_output is None
    for spec, words in ((SourceSpec("video", str(corrupt)), str(corrupt)),
                        (SourceSpec("camera", "99"), "camera 99 is not available"),
                        (SourceSpec("folder", str(tmp_path / "nope")), "does not exist")):
        w.open_source(spec)
        qtbot.waitUntil(lambda words=words: words in w.banner.message, timeout=15_000)
    w.open_bundled_clip()
    wait_frames(qtbot, w, 3)
    assert not w.banner.isVisible()  # the new source opened: the old error is gone


class FlakyCamera(FrameReader):
    """A live source that delivers frames faster than inference, then is unplugged."""

    def __init__(self, spec: SourceSpec, frames: int = 40) -> None:
        self.info = ReaderInfo(spec, "camera", 320, 240, 30.0, 0, seekable=False, stills=False)
        self.frames, self.index = frames, 0

    def read(self):
        if self.index == self.frames:
            return None
        time.sleep(0.005)
        self.index += 1
        return self.index - 1, np.full((240, 320, 3), 90, np.uint8), ""


def test_camera_unplugged_mid_stream_drops_stale_frames(make_window, qtbot):
    def opener(spec: SourceSpec):
        return FlakyCamera(spec) if spec.kind == "camera" else open_reader(spec)

    w = make_window(source=SourceSpec("camera", "0"), opener=opener)
    w.set_recording(True)
    qtbot.waitUntil(lambda: "stopped delivering frames" in w.banner.message, timeout=15_000)
    qtbot.waitUntil(lambda: w.last_output is not None, timeout=15_000)
    assert w.slot.dropped > 0  # the camera outran inference: stale frames were replaced
    qtbot.waitUntil(lambda: w.drops_label.text() == f"Dropped {w.slot.dropped}", timeout=5_000)
    w.set_recording(False)
    qtbot.waitUntil(lambda: w.last_recording is not None, timeout=10_000)
    doc = json.loads(w.last_recording.json_path.read_text())
    assert doc["source"]["kind"] == "camera" and len(doc["frames"]) == w.last_recording.frames > 0
    assert count_video_frames(w.last_recording.video_path) == len(doc["frames"])
    # The video plays at the rate frames were recorded (measured over the first ones), not at the
    # camera's nominal 30 fps, which would play a slowly processed stream too fast.
    times = [f["timestamp"] for f in doc["frames"]]
    probe = next((k for k in range(2, len(times) + 1) if k == 15 or times[k - 1] - times[0] >= 1.0), len(times))
    expected = min(30.0, (probe - 1) / (times[probe - 1] - times[0]))
    cap = cv2.VideoCapture(str(w.last_recording.video_path))
    fps = cap.get(cv2.CAP_PROP_FPS)
    cap.release()
    assert abs(fps - expected) < 0.05 * expected, (fps, expected)
    w.open_bundled_clip()
    wait_frames(qtbot, w, 2)
    assert w.drops_label.text() == "Dropped 0"


def test_bad_model_keeps_the_current_one(make_window, qtbot, tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    w = make_window()
    wait_frames(qtbot, w, 1)
    before = w.model_label.text()
    w.settings.model_path.setText(str(bad))
    w.settings.request_model()
    qtbot.waitUntil(lambda: "cannot load model" in w.banner.message, timeout=15_000)
    w.load_model(tmp_path / "bad.onnx", "no-such-backend")
    qtbot.waitUntil(lambda: "unknown backend" in w.banner.message, timeout=15_000)
    wait_frames(qtbot, w, 2)  # still running on the old model
    assert w.model_label.text() == before


def test_a_stale_engine_is_reported_and_the_app_runs_on(make_window, qtbot, tmp_path, monkeypatch):
    import shutil

    from engine.assets import default_model_path
    from engine.backends import registry
    from engine.errors import ModelError

    model = tmp_path / "m.onnx"
    shutil.copy(default_model_path(), model)
    (tmp_path / "m.engine").write_bytes(b"an engine built elsewhere")
    real_open = registry._open

    def stale_engine(name, path, *rest):
        if name == "tensorrt":
            raise ModelError(f"{path} was built with TensorRT 10.3, not 10.13; rebuild it with: hgpose ...")
        return real_open(name, path, *rest)

    monkeypatch.setattr(registry, "tensorrt_available", lambda: True)
    monkeypatch.setattr(registry, "_open", stale_engine)
    w = make_window()
    wait_frames(qtbot, w, 1)
    w.load_model(model, "auto")
    qtbot.waitUntil(lambda: "falling back to onnxruntime" in w.banner.message, timeout=15_000)
    assert "rebuild it with" in w.banner.message and w.model_info.backend == "onnxruntime"
    wait_frames(qtbot, w, 2)  # running on the fallback


def test_internal_errors_reach_the_banner_and_the_app_runs_on(make_window, qtbot, tmp_path, monkeypatch):
    import sys
    import threading

    from app.cli import install_exception_hook

    w = make_window()
    wait_frames(qtbot, w, 1)
    # A screenshot folder that cannot be created (a file is in the way).
    (tmp_path / "file").write_text("x")
    assert w.save_screenshot(tmp_path / "file" / "shot.png") is None
    assert w.banner.message == (f"screenshot not saved: cannot write {tmp_path / 'file' / 'shot.png'}: "
                                f"{tmp_path / 'file'} is a file, not a folder")

    # A failing request in the inference thread.
    w.worker._requests.put(lambda: 1 / 0)
    qtbot.waitUntil(lambda: "internal error: ZeroDivisionError" in w.banner.message, timeout=10_000)
    wait_frames(qtbot, w, 2)

    # Exceptions that escape a slot (sys.excepthook) or a Python thread (threading.excepthook).
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    install_exception_hook(w)
    try:
        raise ValueError("boom in a slot")
    except ValueError as exc:
        sys.excepthook(ValueError, exc, exc.__traceback__)
    qtbot.waitUntil(lambda: "boom in a slot" in w.banner.message, timeout=5_000)
    thread = threading.Thread(target=lambda: [][1])
    thread.start()
    thread.join()
    qtbot.waitUntil(lambda: "internal error: IndexError" in w.banner.message, timeout=5_000)
    wait_frames(qtbot, w, 2)  # still running


def test_the_threshold_follows_each_model_unless_the_user_set_one(make_window, qtbot, tiny_onnx):
    from engine.assets import default_model_path
    from engine.model_file import read_onnx_metadata

    bundled = read_onnx_metadata(default_model_path()).joint_threshold
    tiny = read_onnx_metadata(tiny_onnx).joint_threshold
    w = make_window(threshold=bundled)  # as `hgpose app` starts: the model's calibrated threshold
    wait_frames(qtbot, w, 1)
    assert round(bundled * 100) != round(tiny * 100)  # else this test shows nothing
    assert w.settings.threshold.value() == round(bundled * 100)
    w.load_model(tiny_onnx, "onnxruntime")
    qtbot.waitUntil(lambda: w.model_info.path == tiny_onnx, timeout=15_000)
    assert w.settings.threshold.value() == round(tiny * 100)
    w.settings.threshold.setValue(55)  # the user's choice now stays
    w.load_model(w.options.model, "onnxruntime")  # auto precision: its INT8 sibling runs
    qtbot.waitUntil(lambda: w.model_info.path.name == "hg3-w128-128.int8.onnx", timeout=15_000)
    assert w.settings.threshold.value() == 55


def test_the_threshold_follows_the_flip_test_unless_the_user_set_one(make_window, qtbot) -> None:
    from dataclasses import replace

    w = make_window(threshold=0.44)  # as `hgpose app` starts: flip test when unsure, plain threshold
    wait_frames(qtbot, w, 1)
    # A model whose flip-test heatmaps peak lower (stage 16's calibration: 0.44 alone, 0.41 flipped).
    w.model_info = replace(w.model_info, joint_threshold=0.44, flip_threshold=0.41)
    plain, flipped = 44, 41
    assert w.settings.flip_mode == "unsure"
    w.settings.set_flip_mode("on")  # flip-test heatmaps peak lower: their own calibration
    assert w.settings.threshold.value() == flipped
    w.settings.set_flip_mode("off")
    assert w.settings.threshold.value() == plain
    w.settings.set_flip_mode("unsure")  # most crops read alone: the plain threshold stays
    assert w.settings.threshold.value() == plain
    w.settings.threshold.setValue(50)  # the user's choice now stays
    w.settings.set_flip_mode("on")
    assert w.settings.threshold.value() == 50
