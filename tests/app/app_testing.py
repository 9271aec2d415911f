"""Helpers for the app tests (a unique module name: tests of other packages have their own)."""

from __future__ import annotations

import numpy as np
from PyQt6.QtGui import QImage
from PyQt6.QtWidgets import QWidget

from app.main_window import MainWindow

FRAME_TIMEOUT_MS = 30_000  # generous: two loaded cores, and the training run shares them


def wait_frames(qtbot, window: MainWindow, count: int) -> None:
    """Wait until ``count`` more results have been displayed."""
    target = window.display_meter.count + count
    qtbot.waitUntil(lambda: window.display_meter.count >= target, timeout=FRAME_TIMEOUT_MS)


def wait_idle(qtbot, window: MainWindow) -> None:
    """After a pause, seek or step: wait until the frames in flight have been processed and shown."""
    qtbot.waitUntil(window.is_idle, timeout=FRAME_TIMEOUT_MS)


def grab_rgb(widget: QWidget) -> np.ndarray:
    """The widget as drawn on screen, (H, W, 3) uint8 RGB."""
    img = widget.grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
    ptr = img.constBits()
    assert ptr is not None
    ptr.setsize(img.sizeInBytes())
    rows = np.frombuffer(ptr, np.uint8).reshape(img.height(), img.bytesPerLine())
    return rows[:, : img.width() * 3].reshape(img.height(), img.width(), 3).copy()
