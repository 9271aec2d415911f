"""Closing the window stops every thread the app started."""

from __future__ import annotations

import threading

from app_testing import wait_frames


def _python_threads() -> set[threading.Thread]:
    # Qt's own threads show up as _DummyThread entries once Python code runs in them; those are
    # Qt's business. Real Python threads are what the app could leak.
    return {t for t in threading.enumerate() if not isinstance(t, threading._DummyThread)}


def test_close_stops_all_threads(make_window, qtbot):
    before = _python_threads()
    w = make_window()
    wait_frames(qtbot, w, 2)
    w.open_bundled_clip()  # a replaced capture thread must be stopped too
    old = w.capture
    wait_frames(qtbot, w, 1)
    w.set_recording(True)
    wait_frames(qtbot, w, 1)
    capture, worker = w.capture, w.worker
    w.close()
    assert old.isFinished() and capture.isFinished() and worker.isFinished()
    assert w.capture is None and worker.backend is None  # the backend was released
    assert {t for t in _python_threads() - before if t.is_alive()} == set()
    assert not [t for t in threading.enumerate() if t.name.startswith("hgpose") and t.is_alive()]
