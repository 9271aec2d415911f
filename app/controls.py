"""Control widgets: the transport bar under the video and the settings panel beside it.

They only emit signals; the main window turns them into capture and inference requests.
"""

from __future__ import annotations

from pathlib import Path

from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSlider,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.overlay import OverlayOptions
from engine.backends.registry import BACKENDS

SPEEDS = (("0.25×", 0.25), ("0.5×", 0.5), ("1×", 1.0), ("2×", 2.0), ("4×", 4.0), ("Max", 0.0))
# The flip modes (engine.flip_modes) as the settings panel offers them.
FLIP_CHOICES = (("When unsure (1-2× inference)", "unsure"), ("Always (2× inference)", "on"), ("Off", "off"))


class TransportBar(QWidget):
    """Play/pause, frame step, seek slider, loop and speed (files and folders; live sources only pause).

    Signals:
        play_toggled(bool): True to play.
        step(int): frames to move (-1 or +1).
        seek(int): frame index to show.
        loop_changed(bool), speed_changed(float): 0.0 means as fast as inference allows.
    """

    play_toggled = pyqtSignal(bool)
    step = pyqtSignal(int)
    seek = pyqtSignal(int)
    loop_changed = pyqtSignal(bool)
    speed_changed = pyqtSignal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.play = QToolButton()
        self.play.setCheckable(True)
        self.play.setToolTip("Play / pause (Space)")
        self.play.toggled.connect(self._on_play)
        self.back = QToolButton()
        self.back.setText("◀|")
        self.back.setToolTip("Previous frame (,)")
        self.back.clicked.connect(lambda: self.step.emit(-1))
        self.forward = QToolButton()
        self.forward.setText("|▶")
        self.forward.setToolTip("Next frame (.)")
        self.forward.clicked.connect(lambda: self.step.emit(1))
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setToolTip("Seek")
        self.slider.valueChanged.connect(self._on_slider)
        self.position = QLabel("–")
        self.position.setMinimumWidth(90)
        self.loop = QCheckBox("Loop")
        self.loop.setChecked(True)
        self.loop.toggled.connect(self.loop_changed.emit)
        self.speed = QComboBox()
        self.speed.setToolTip("Playback speed")
        for text, value in SPEEDS:
            self.speed.addItem(text, value)
        self.speed.setCurrentIndex(2)
        self.speed.currentIndexChanged.connect(lambda _: self.speed_changed.emit(self.speed_value()))
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        for button in (self.play, self.back, self.forward):
            row.addWidget(button)
        row.addWidget(self.slider, 1)
        for widget in (self.position, self.loop, self.speed):
            row.addWidget(widget)
        self.set_playing(True)

    def speed_value(self) -> float:
        return float(self.speed.currentData())

    def set_speed(self, value: float) -> None:
        """Select ``value`` (0: as fast as possible), adding it in order when it is not a preset
        (``--speed 1.5``), so the box always shows the speed in force."""
        index = self.speed.findData(value)
        if index < 0:
            presets = [float(self.speed.itemData(i)) for i in range(self.speed.count())]
            index = next((i for i, v in enumerate(presets) if v == 0.0 or v > value), len(presets))
            self.speed.insertItem(index, f"{value:g}×", value)
        self.speed.setCurrentIndex(index)

    def set_playing(self, playing: bool) -> None:
        """Reflect the state without emitting ``play_toggled``."""
        self.play.blockSignals(True)
        self.play.setChecked(playing)
        self.play.blockSignals(False)
        self.play.setText("❚❚" if playing else "▶")

    def set_source(self, frame_count: int, seekable: bool) -> None:
        for w in (self.slider, self.back, self.forward, self.loop, self.speed):
            w.setEnabled(seekable)
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(frame_count - 1, 0))
        self.slider.setValue(0)
        self.slider.blockSignals(False)
        self._count = frame_count

    def clear(self) -> None:
        """No source (yet): an empty, disabled slider and no position."""
        self.set_source(0, seekable=False)
        self.position.setText("–")

    def set_length(self, frame_count: int) -> None:
        """The source holds fewer frames than first reported: shorten the slider, keep its place."""
        self.slider.blockSignals(True)
        self.slider.setMaximum(max(frame_count - 1, 0))
        self.slider.blockSignals(False)
        self._count = frame_count

    def set_position(self, index: int) -> None:
        """Follow playback, unless the user is dragging the slider."""
        count = getattr(self, "_count", 0)
        self.position.setText(f"{index + 1} / {count}" if count else f"frame {index + 1}")
        if not self.slider.isSliderDown():
            self.slider.blockSignals(True)
            self.slider.setValue(index)
            self.slider.blockSignals(False)

    def _on_play(self, playing: bool) -> None:
        self.set_playing(playing)
        self.play_toggled.emit(playing)

    def _on_slider(self, value: int) -> None:
        self.seek.emit(value)


class SettingsPanel(QWidget):
    """Overlay, pipeline, model and recording settings.

    Signals:
        overlay_changed(OverlayOptions)
        pipeline_changed(): read :attr:`smoothing`, :attr:`flip_mode` and :attr:`zoom_test`.
        model_requested(Path, str): load this model on this backend.
        record_toggled(bool), screenshot_requested()
    """

    overlay_changed = pyqtSignal(object)
    pipeline_changed = pyqtSignal()
    model_requested = pyqtSignal(object, str)
    record_toggled = pyqtSignal(bool)
    screenshot_requested = pyqtSignal()

    def __init__(self, threshold: float, model: Path, backend: str, output_dir: Path,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.output_dir = output_dir
        # Overlay
        self.threshold = QSlider(Qt.Orientation.Horizontal)
        self.threshold.setRange(0, 100)
        self.threshold.setValue(round(threshold * 100))
        self.threshold.setToolTip("Joints below this confidence are hidden")
        self.threshold_value = QLabel()
        self.roi = QCheckBox("Show ROI box")
        self.roi.setToolTip("Draw the crop the model looks at")
        self.threshold.valueChanged.connect(self._emit_overlay)
        self.roi.toggled.connect(self._emit_overlay)
        overlay = QGroupBox("Overlay")
        form = QFormLayout(overlay)
        row = QHBoxLayout()
        row.addWidget(self.threshold, 1)
        row.addWidget(self.threshold_value)
        form.addRow("Threshold", row)
        form.addRow(self.roi)
        # Pipeline
        self.smoothing_box = QCheckBox("Smoothing (joints and scores)")
        self.smoothing_box.setToolTip("Smooth the joints over time (One Euro filter) and their scores, so a joint "
                                      "missed for a frame stays drawn; the crop follows a smoothed pose either way")
        self.smoothing_box.setChecked(True)
        self.flip_box = QComboBox()
        for label, mode in FLIP_CHOICES:
            self.flip_box.addItem(label, mode)
        self.flip_box.setCurrentIndex(self.flip_box.findData("unsure"))
        self.flip_box.setToolTip("Average the pose with the mirrored crop's: a better pose for a second "
                                 "inference, on every frame or only where the first read is unsure")
        self.zoom_box = QCheckBox("Zoom test (joints placed better, twice the crops)")
        self.zoom_box.setToolTip("Read each pose crop again zoomed in and average the two for where the joints "
                                 "are; what is drawn and what is followed stay the same")
        self.smoothing_box.toggled.connect(lambda _: self.pipeline_changed.emit())
        self.flip_box.currentIndexChanged.connect(lambda _: self.pipeline_changed.emit())
        self.zoom_box.toggled.connect(lambda _: self.pipeline_changed.emit())
        pipeline = QGroupBox("Pipeline")
        col = QVBoxLayout(pipeline)
        col.addWidget(self.smoothing_box)
        row = QHBoxLayout()
        row.addWidget(QLabel("Flip test"))
        row.addWidget(self.flip_box, 1)
        col.addLayout(row)
        col.addWidget(self.zoom_box)
        # Model
        self.model_path = QLineEdit(str(model))
        self.model_path.setToolTip("Model file: .onnx, .pt or .engine")
        browse = QToolButton()
        browse.setText("…")
        browse.clicked.connect(self._browse_model)
        self.backend = QComboBox()
        self.backend.addItems(BACKENDS)
        self.backend.setCurrentText(backend)
        load = QPushButton("Load model")
        load.clicked.connect(self.request_model)
        model_box = QGroupBox("Model")
        form = QFormLayout(model_box)
        row = QHBoxLayout()
        row.addWidget(self.model_path, 1)
        row.addWidget(browse)
        form.addRow("File", row)
        form.addRow("Backend", self.backend)
        form.addRow(load)
        # Recording
        self.record = QPushButton("● Record")
        self.record.setCheckable(True)
        self.record.setToolTip("Record the annotated video (MP4) and keypoints (JSON, CSV)")
        self.record.toggled.connect(self.record_toggled.emit)
        shot = QPushButton("Screenshot")
        shot.clicked.connect(self.screenshot_requested.emit)
        self.output_label = QLabel()
        self.output_label.setWordWrap(True)
        change = QToolButton()
        change.setText("…")
        change.setToolTip("Choose the output folder")
        change.clicked.connect(self._browse_output)
        rec = QGroupBox("Recording")
        col = QVBoxLayout(rec)
        row = QHBoxLayout()
        row.addWidget(self.record)
        row.addWidget(shot)
        col.addLayout(row)
        row = QHBoxLayout()
        row.addWidget(self.output_label, 1)
        row.addWidget(change)
        col.addLayout(row)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for box in (overlay, pipeline, model_box, rec):
            layout.addWidget(box)
        self._update_labels()

    @property
    def smoothing(self) -> bool:
        return self.smoothing_box.isChecked()

    @property
    def flip_mode(self) -> str:
        """``on``, ``unsure`` or ``off`` (engine.flip_modes)."""
        return str(self.flip_box.currentData())

    def set_flip_mode(self, mode: str) -> None:
        self.flip_box.setCurrentIndex(self.flip_box.findData(mode))

    @property
    def zoom_test(self) -> bool:
        """Whether poses are placed with the zoom test (engine.pipeline.PipelineConfig.zoom_test)."""
        return self.zoom_box.isChecked()

    def set_zoom_test(self, on: bool) -> None:
        self.zoom_box.setChecked(on)

    @property
    def flip(self) -> bool:
        """Whether every pose has the flip test (its scores have a threshold of their own)."""
        return self.flip_mode == "on"

    def overlay(self) -> OverlayOptions:
        return OverlayOptions(self.threshold.value() / 100.0, self.roi.isChecked())

    def set_recording(self, on: bool) -> None:
        """Reflect the state without emitting ``record_toggled``."""
        self.record.blockSignals(True)
        self.record.setChecked(on)
        self.record.blockSignals(False)
        self.record.setText("■ Stop" if on else "● Record")

    def request_model(self) -> None:
        self.model_requested.emit(Path(self.model_path.text().strip()), self.backend.currentText())

    def _emit_overlay(self) -> None:
        self._update_labels()
        self.overlay_changed.emit(self.overlay())

    def _update_labels(self) -> None:
        self.threshold_value.setText(f"{self.threshold.value() / 100:.2f}")
        self.output_label.setText(f"Saves to {self.output_dir}")

    def _browse_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose a model", self.model_path.text(),
                                              "Models (*.onnx *.pt *.engine);;All files (*)")
        if path:
            self.model_path.setText(path)
            self.request_model()

    def _browse_output(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Output folder", str(self.output_dir))
        if path:
            self.output_dir = Path(path)
            self._update_labels()
