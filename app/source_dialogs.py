"""Dialogs for choosing a camera or a stream URL (files and folders use QFileDialog)."""

from __future__ import annotations

from PyQt6.QtCore import QThread, pyqtSignal
from PyQt6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QInputDialog,
    QLabel,
    QWidget,
)

from app.readers import CAMERA_PROBE_LIMIT, list_cameras
from app.source_spec import SourceSpec

CAMERA_SIZES = (("Driver default", None), ("640×480", (640, 480)), ("1280×720", (1280, 720)),
                ("1920×1080", (1920, 1080)))


class CameraProbe(QThread):
    """Lists the cameras off the UI thread (opening each index can take a moment)."""

    found = pyqtSignal(list)

    def run(self) -> None:
        self.found.emit(list_cameras())


class CameraDialog(QDialog):
    """Lists the camera indices that open, and a capture resolution."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Open camera")
        self.index = QComboBox()
        self.index.setEditable(True)  # a camera beyond the probed range can still be typed in
        self.index.addItem("0")
        self.note = QLabel("Looking for cameras…")
        self.resolution = QComboBox()
        for text, value in CAMERA_SIZES:
            self.resolution.addItem(text, value)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow(self.note)
        form.addRow("Camera", self.index)
        form.addRow("Resolution", self.resolution)
        form.addRow(buttons)
        self.probe = CameraProbe()
        self.probe.setObjectName("hgpose-camera-probe")
        self.probe.found.connect(self._on_found)
        self.probe.start()

    def _on_found(self, found: list[int]) -> None:
        typed = self.index.currentText()
        self.index.clear()
        self.index.addItems([str(i) for i in found] or [typed])
        self.note.setText(f"Found cameras: {', '.join(map(str, found))}" if found
                          else f"No camera answered on indices 0–{CAMERA_PROBE_LIMIT - 1}.")

    def done(self, result: int) -> None:
        self.probe.wait()  # the probe must not outlive its dialog
        super().done(result)

    def spec(self) -> SourceSpec | None:
        text = self.index.currentText().strip()
        if not text.isdigit():
            return None
        return SourceSpec("camera", str(int(text)), self.resolution.currentData())


def ask_camera(parent: QWidget) -> SourceSpec | None:
    dialog = CameraDialog(parent)
    return dialog.spec() if dialog.exec() == QDialog.DialogCode.Accepted else None


def ask_url(parent: QWidget) -> SourceSpec | None:
    text, ok = QInputDialog.getText(parent, "Open stream", "RTSP or HTTP URL:", text="rtsp://")
    text = text.strip()
    return SourceSpec("url", text) if ok and "://" in text and not text.endswith("://") else None
