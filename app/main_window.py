"""The main window: wires the capture thread, the inference worker and the widgets together.

The UI thread only draws: frames are read in :class:`app.capture.CaptureThread`, poses estimated and
recordings written in :class:`app.inference_worker.InferenceWorker`.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from PyQt6.QtCore import Qt, QTimer, pyqtSignal
from PyQt6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PyQt6.QtWidgets import (
    QFileDialog,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMenu,
    QMenuBar,
    QScrollArea,
    QSplitter,
    QStatusBar,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from app.angle_plot import AnglePlot, AngleReadout
from app.banner import ErrorBanner
from app.canvas import VideoCanvas
from app.capture import CaptureThread, FramePacket, PlaybackState
from app.controls import SettingsPanel, TransportBar
from app.frame_slot import LatestSlot
from app.inference_worker import InferenceWorker, ModelInfo, WorkerOutput
from app.options import AppOptions
from app.overlay import OverlayOptions
from app.rate_meter import RateMeter
from app.readers import FrameReader, ReaderInfo, open_reader
from app.recorder import RecordingRequest, RecordingSummary, free_stem
from app.screenshot import save_image
from app.source_dialogs import ask_camera, ask_url
from app.source_spec import SourceSpec, parse_source
from engine.assets import default_clip_path
from engine.backends.base import Backend
from engine.errors import HgposeError, InputError
from engine.pipeline import PipelineConfig
from engine.smoothing import OneEuroConfig
from engine.sources import VIDEO_SUFFIXES

# The rate line under the video with no frame shown yet: display, inference, latency, drops.
IDLE_STATS = ("Display – FPS", "Inference – FPS", "Latency – ms", "Dropped 0")
THREAD_STOP_MS = 6000  # a stream open can block for its 5 s timeout before a thread can stop


class MainWindow(QMainWindow):
    """The hgpose app window. ``opener`` replaces :func:`app.readers.open_reader` in tests."""

    # An exception that escaped somewhere (any thread): shown in the banner; see app.cli.
    internal_error = pyqtSignal(str)

    def __init__(self, options: AppOptions, backend: Backend,
                 opener: Callable[[SourceSpec], FrameReader] = open_reader) -> None:
        super().__init__()
        self.options = options
        self._opener = opener
        self.slot: LatestSlot[FramePacket] = LatestSlot()
        self.playback = PlaybackState(paused=False, speed=options.speed, loop=options.loop)
        self.capture: CaptureThread | None = None
        self._stale_captures: list[CaptureThread] = []  # stopped but not yet finished: keep them alive
        self.source_info: ReaderInfo | None = None
        self.model_info: ModelInfo | None = None
        self.last_output: WorkerOutput | None = None
        self.last_recording: RecordingSummary | None = None
        self.display_meter = RateMeter()
        self.automation_error: HgposeError | None = None  # why an automated run failed
        self._sums = {"latency": 0.0, "infer": 0.0}
        self._finishing = False
        self._closed = False
        self.setWindowTitle("hgpose")
        self.setAcceptDrops(True)
        self._build_ui(options)
        self.worker = InferenceWorker(self.slot, backend, self.pipeline_config(), self.settings.overlay(),
                                      options.max_frames)
        self.worker.result_ready.connect(self._on_result)
        self.worker.model_loaded.connect(self._on_model_loaded)
        self.worker.error.connect(self.show_error)
        self.internal_error.connect(self.show_error)
        self.worker.recording_started.connect(self._on_recording_started)
        self.worker.recording_stopped.connect(self._on_recording_stopped)
        self.worker.start()
        self.open_source(options.source)

    # Layout.
    def _build_ui(self, options: AppOptions) -> None:
        self.resize(*options.window_size)
        self.banner = ErrorBanner()
        self.canvas = VideoCanvas()
        self.canvas.set_overlay(OverlayOptions(options.threshold))
        self.transport = TransportBar()
        self.transport.loop.setChecked(options.loop)
        self.transport.set_speed(options.speed)
        self.transport.play_toggled.connect(self.set_playing)
        self.transport.step.connect(self.step)
        self.transport.seek.connect(self.seek)
        self.transport.loop_changed.connect(lambda on: self._set_playback(loop=on))
        self.transport.speed_changed.connect(lambda v: self._set_playback(speed=v))
        self.display_fps_label, self.infer_fps_label = QLabel(IDLE_STATS[0]), QLabel(IDLE_STATS[1])
        self.latency_label, self.drops_label = QLabel(IDLE_STATS[2]), QLabel(IDLE_STATS[3])
        stats = QHBoxLayout()
        for label, sample in ((self.display_fps_label, "Display 88.8 FPS"),
                              (self.infer_fps_label, "Inference 88.8 FPS · infer 888 ms"),
                              (self.latency_label, "Latency 888 ms"), (self.drops_label, "Dropped 8888")):
            font = label.font()
            font.setBold(True)
            label.setFont(font)
            # A fixed width: changing digits must not re-layout the window every frame.
            label.setFixedWidth(label.fontMetrics().horizontalAdvance(sample) + 12)
            stats.addWidget(label)
        stats.addStretch(1)
        self.angle_plot = AnglePlot()
        video = QWidget()
        col = QVBoxLayout(video)
        col.setContentsMargins(6, 6, 6, 0)
        col.addWidget(self.banner)
        col.addWidget(self.canvas, 1)
        col.addWidget(self.transport)
        col.addLayout(stats)
        left = QSplitter(Qt.Orientation.Vertical)
        left.addWidget(video)
        left.addWidget(self.angle_plot)
        left.setStretchFactor(0, 1)
        left.setSizes([options.window_size[1] - 200, 140])

        self.settings = SettingsPanel(options.threshold, options.model, options.backend, options.output_dir)
        self.settings.set_flip_mode(options.flip)  # before the worker listens: its first config
        self.settings.set_zoom_test(options.zoom_test)
        self.settings.overlay_changed.connect(self._on_overlay)
        self.settings.pipeline_changed.connect(self._on_pipeline_changed)
        self._threshold_flip = options.flip == "on"  # the flip setting the drawing threshold was chosen for
        self.settings.model_requested.connect(self.load_model)
        self.settings.record_toggled.connect(self.set_recording)
        self.settings.screenshot_requested.connect(lambda: self.save_screenshot())
        self.angle_readout = AngleReadout()
        angle_box = QGroupBox("Joint angles")
        QVBoxLayout(angle_box).addWidget(self.angle_readout)
        side = QWidget()
        side_col = QVBoxLayout(side)
        side_col.setContentsMargins(6, 6, 6, 6)
        side_col.addWidget(self.settings)
        side_col.addWidget(angle_box)
        side_col.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidget(side)
        scroll.setWidgetResizable(True)
        scroll.setMinimumWidth(280)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(scroll)
        splitter.setStretchFactor(0, 1)
        splitter.setSizes([options.window_size[0] - 330, 330])
        self.setCentralWidget(splitter)

        self.status = QStatusBar()
        self.setStatusBar(self.status)
        self.model_label, self.source_label = QLabel("loading model…"), QLabel("")
        # A rule between source and model, so "401 frames" and "onnxruntime" do not run together.
        self.status_separator = QFrame()
        self.status_separator.setFrameShape(QFrame.Shape.VLine)
        self.status_separator.setFrameShadow(QFrame.Shadow.Sunken)
        self.status.addPermanentWidget(self.source_label)
        self.status.addPermanentWidget(self.status_separator)
        self.status.addPermanentWidget(self.model_label)
        self._build_actions()

    def _build_actions(self) -> None:
        def action(text: str, slot: Callable[[], object], shortcut: str | None = None) -> QAction:
            a = QAction(text, self)
            a.triggered.connect(lambda _=False: slot())
            if shortcut:
                a.setShortcut(QKeySequence(shortcut))
            return a

        sources = [action("Video…", self._choose_video, "Ctrl+O"), action("Image folder…", self._choose_folder),
                   action("Image…", self._choose_image), action("Camera…", self._choose_camera),
                   action("Stream URL…", self._choose_url), action("Sample clip", self.open_bundled_clip)]
        bar = QToolBar("Sources")
        bar.setMovable(False)
        bar.addWidget(QLabel(" Open: "))
        menus = QMenuBar()
        self.setMenuBar(menus)
        file_menu = QMenu("&File", self)
        menus.addMenu(file_menu)
        for a in sources:
            bar.addAction(a)
            file_menu.addAction(a)
        self.addToolBar(bar)
        file_menu.addSeparator()
        file_menu.addAction(action("Save screenshot", lambda: self.save_screenshot(), "Ctrl+S"))
        file_menu.addAction(action("Quit", self.close, "Ctrl+Q"))
        play_menu = QMenu("&Playback", self)
        menus.addMenu(play_menu)
        play_menu.addAction(action("Play / pause", lambda: self.set_playing(self.playback.paused), "Space"))
        play_menu.addAction(action("Next frame", lambda: self.step(1), "."))
        play_menu.addAction(action("Previous frame", lambda: self.step(-1), ","))

    # Sources.
    def open_source(self, spec: SourceSpec) -> None:
        """Stop the current source and open ``spec`` in a new capture thread; errors go to the banner."""
        if self.settings.record.isChecked():
            self.set_recording(False)
        self._stop_capture()
        self.slot.reset()
        self.source_info = None
        self.last_output = None
        self.display_meter.reset()
        self._sums = dict.fromkeys(self._sums, 0.0)
        self.canvas.clear(f"Opening {spec.label}…")
        self._clear_readouts()
        self.source_label.setText(spec.label)
        self.status.showMessage(f"Opening {spec.label}…")
        self.playback = replace(self.playback, paused=False)
        self.transport.set_playing(True)
        capture = CaptureThread(spec, self.slot, self.playback, self._opener)
        capture.opened.connect(self._on_opened)
        capture.failed.connect(self._on_capture_failed)
        capture.ended.connect(self._on_ended)
        capture.length_changed.connect(self._on_length_changed)
        self.capture = capture
        capture.start()

    def _clear_readouts(self) -> None:
        """Forget what the previous source showed (position, angles, plot, rates): they would
        otherwise stay on screen, wrong, while a new source opens or after it failed to."""
        self.transport.clear()
        self.angle_readout.show_angles({})
        self.angle_plot.clear_history()
        for label, text in zip((self.display_fps_label, self.infer_fps_label, self.latency_label,
                                self.drops_label), IDLE_STATS, strict=True):
            label.setText(text)

    def open_path(self, path: Path) -> None:
        self.open_source(parse_source(str(path)))

    def open_bundled_clip(self) -> None:
        try:
            self.open_path(default_clip_path())
        except HgposeError as exc:
            self.show_error(str(exc))

    def _choose_video(self) -> None:
        suffixes = " ".join(f"*{s}" for s in VIDEO_SUFFIXES)
        path, _ = QFileDialog.getOpenFileName(self, "Open video", "", f"Videos ({suffixes});;All files (*)")
        if path:
            self.open_source(SourceSpec("video", path))

    def _choose_image(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open image", "", "Images (*.jpg *.jpeg *.png *.bmp *.webp)")
        if path:
            self.open_source(SourceSpec("image", path))

    def _choose_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open image folder")
        if path:
            self.open_source(SourceSpec("folder", path))

    def _choose_camera(self) -> None:
        spec = ask_camera(self)
        if spec is not None:
            self.open_source(spec)

    def _choose_url(self) -> None:
        spec = ask_url(self)
        if spec is not None:
            self.open_source(spec)

    def dragEnterEvent(self, event: QDragEnterEvent | None) -> None:
        if event is not None and event.mimeData() is not None and event.mimeData().hasUrls():  # type: ignore[union-attr]
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent | None) -> None:
        urls = event.mimeData().urls() if event is not None and event.mimeData() is not None else []  # type: ignore[union-attr]
        if urls:
            url = urls[0]
            self.open_source(parse_source(url.toLocalFile() if url.isLocalFile() else url.toString()))

    def _on_opened(self, capture: CaptureThread, info: ReaderInfo) -> None:
        if capture is not self.capture:
            return
        self.source_info = info
        self.banner.dismiss()  # an error shown was about the source this one replaces
        self.transport.set_source(info.frame_count, info.seekable)
        self._label_source(info, info.frame_count)
        self.status.showMessage(f"Opened {info.spec.label}", 3000)

    def _label_source(self, info: ReaderInfo, frames: int) -> None:
        kind = "live" if info.spec.live else f"{frames} frames" if frames else info.kind
        self.source_label.setText(f"{info.spec.label} · {info.width}×{info.height} · {kind}")

    def _on_length_changed(self, capture: CaptureThread, frames: int) -> None:
        if capture is not self.capture or self.source_info is None:
            return
        self.transport.set_length(frames)
        self._label_source(self.source_info, frames)
        self.status.showMessage(f"{self.source_info.spec.label} holds {frames} of the {self.source_info.frame_count} "
                                "frames its container reports (a cut or damaged file)")

    def _on_capture_failed(self, capture: CaptureThread, message: str) -> None:
        if capture is not self.capture:
            return
        self.show_error(message)
        self.transport.set_playing(False)
        if self.source_info is None:
            self.canvas.clear("Could not open the source: choose another one")
        if self.options.automated and not self._finishing:
            self.automation_error = InputError(message)
            self._finishing = True
            self.close()

    def _on_ended(self, capture: CaptureThread) -> None:
        if capture is not self.capture:
            return
        self.playback = replace(self.playback, paused=True)
        self.transport.set_playing(False)
        self.status.showMessage("End of source", 3000)
        if self.options.automated:
            self._finish_when_drained()

    def _stop_capture(self) -> None:
        if self.capture is None:
            return
        self.capture.stop()
        if not self.capture.wait(THREAD_STOP_MS):
            self._stale_captures.append(self.capture)
        self.capture = None

    # Playback.
    def _set_playback(self, **changes: object) -> None:
        self.playback = replace(self.playback, **changes)  # type: ignore[arg-type]
        if self.capture is not None:
            self.capture.set_playback(self.playback)

    def set_playing(self, playing: bool) -> None:
        self.transport.set_playing(playing)
        self._set_playback(paused=not playing)

    def step(self, delta: int) -> None:
        self.playback = replace(self.playback, paused=True)
        self.transport.set_playing(False)
        if self.capture is not None:
            self.capture.step(delta)

    def seek(self, index: int) -> None:
        if self.capture is not None:
            self.capture.seek(index)

    # Inference, model, options.
    def pipeline_config(self) -> PipelineConfig:
        return PipelineConfig(smoothing=OneEuroConfig(enabled=self.settings.smoothing),
                              zoom_test=self.settings.zoom_test).with_flip(self.settings.flip_mode)

    def load_model(self, path: Path, backend: str) -> None:
        """Load a model in the inference thread; a bad model shows an error and keeps the current one."""
        self.status.showMessage(f"Loading {path} on {backend}…")
        self.worker.load_model(path, backend, self.options.precision, self.options.spinning)

    def _follow_calibration(self, old: float, new: float) -> None:
        """The drawing threshold follows the calibration in force (each model's, with or without
        the flip test) unless the user chose another."""
        slider = self.settings.threshold
        if slider.value() == round(old * 100):
            slider.setValue(round(new * 100))

    def _on_pipeline_changed(self) -> None:
        flip, info = self.settings.flip, self.model_info
        if info is not None and flip != self._threshold_flip:
            # Flip-test heatmaps score lower; their threshold is calibrated apart (engine.metadata).
            self._follow_calibration(info.threshold_for(self._threshold_flip), info.threshold_for(flip))
        self._threshold_flip = flip
        self.worker.set_pipeline_config(self.pipeline_config())

    def _on_model_loaded(self, info: ModelInfo) -> None:
        previous, self.model_info = self.model_info, info
        if previous is not None:
            flip = self._threshold_flip
            self._follow_calibration(previous.threshold_for(flip), info.threshold_for(flip))
        self.model_label.setText(f"{info.backend} · {info.device} · {info.model} · {info.precision}")
        self.angle_readout.set_skeleton(info.skeleton)
        self.angle_plot.set_skeleton(info.skeleton)
        self.status.showMessage(f"Model {info.model} on {info.backend}", 3000)
        if info.fallbacks:  # running, but slower than this machine could (a stale engine, say)
            self.show_error(" ".join(info.fallbacks))

    def _on_overlay(self, overlay: OverlayOptions) -> None:
        self.canvas.set_overlay(overlay)
        self.worker.set_overlay(overlay)

    def show_error(self, message: str) -> None:
        """Show an error in the banner and the status bar; never a blocking dialog."""
        self.banner.show_message(message)
        self.status.showMessage(message, 10000)

    # Results.
    def _on_result(self) -> None:
        out = self.worker.take_latest()
        if out is None or out.packet.source is not self.source_info:
            return  # a result of a source that has since been replaced
        now = time.perf_counter()
        self.canvas.show_frame(out.packet.image, out.result, out.skeleton)
        self.angle_readout.show_angles(out.angles)
        self.angle_plot.add(out.packet.timestamp, out.angles, out.packet.jump)
        self.transport.set_position(out.packet.index)
        self.display_meter.tick(now)
        latency = (now - out.packet.captured_at) * 1000.0
        infer = out.result.timings_ms.get("infer", math.nan)
        self._sums["latency"] += latency
        self._sums["infer"] += infer
        self.last_output = out
        self.display_fps_label.setText(f"Display {self.display_meter.rate:.1f} FPS")
        self.infer_fps_label.setText(f"Inference {out.infer_fps:.1f} FPS · infer {infer:.0f} ms")
        self.latency_label.setText(f"Latency {latency:.0f} ms")
        self.drops_label.setText(f"Dropped {self.slot.dropped}")
        if self.options.max_frames is not None and out.processed >= self.options.max_frames:
            self._finish_automation()

    # Recording and screenshots.
    def set_recording(self, on: bool) -> None:
        self.settings.set_recording(on)
        if on:
            prefix = Path(self.source_info.spec.target).stem if self.source_info and not self.source_info.spec.live \
                else "hgpose"
            out_dir = self.settings.output_dir
            self.worker.start_recording(RecordingRequest(out_dir, free_stem(out_dir, prefix)))
            self.status.showMessage("Recording starts with the next frame")
        else:
            self.worker.stop_recording()

    def _on_recording_started(self, video: Path) -> None:
        self.status.showMessage(f"Recording to {video}")

    def _on_recording_stopped(self, summary: RecordingSummary | None) -> None:
        self.settings.set_recording(False)
        if summary is None:
            return  # the recording failed; the error is in the banner
        self.last_recording = summary
        self.status.showMessage(f"Saved {summary.frames} frames: {summary.video_path}, "
                                f"{summary.json_path.name}, {summary.csv_path.name}", 10000)

    def save_screenshot(self, path: Path | None = None) -> Path | None:
        """Save the window (default: a new PNG in the output folder); returns the path, or None
        after showing why it could not be saved (a file already at ``path`` is left as it was)."""
        if path is None:
            out_dir = self.settings.output_dir
            path = out_dir / f"{free_stem(out_dir, 'screenshot')}.png"
        try:
            save_image(self.grab(), path)
        except HgposeError as exc:
            self.show_error(str(exc))
            return None
        self.status.showMessage(f"Screenshot saved to {path}", 5000)
        return path

    # Automation.
    def summary(self) -> str:
        """One line on the run so far, printed when an automated run ends."""
        n = self.display_meter.count
        info = self.model_info
        model = f"{info.backend} on {info.device}, model {info.model} ({info.precision})" if info else "no model"
        mean = {k: v / n if n else math.nan for k, v in self._sums.items()}
        return (f"hgpose app: {self.worker.processed} frames processed, {n} displayed: display "
                f"{self.display_meter.overall_rate:.1f} FPS, inference {self.worker.meter.overall_rate:.1f} FPS, "
                f"infer {mean['infer']:.1f} ms, latency {mean['latency']:.0f} ms, dropped {self.slot.dropped}, "
                f"flip test {self.settings.flip_mode} ({model})")

    def is_idle(self) -> bool:
        """True when nothing is in flight: the capture waits for a command, the slot is empty, every
        frame taken from it has been through inference, and the newest result is on screen."""
        capture, last = self.capture, self.last_output
        return (capture is not None and capture.idle and not self.slot.pending()
                and self.slot.taken == self.worker.handled
                and (last is None or last.processed == self.worker.processed))

    def _finish_when_drained(self) -> None:
        """After a file ends: finish once the last frame has been processed and shown."""
        if self.is_idle():
            self._finish_automation()
        else:
            QTimer.singleShot(50, self._finish_when_drained)

    @property
    def automation_finished(self) -> bool:
        """An automated run has ended (its frames processed, or its source failed) and the window is
        closing: a signal arriving from here on interrupts nothing the run was asked to do."""
        return self._finishing

    def _finish_automation(self) -> None:
        if self._finishing:
            return
        self._finishing = True
        if self.options.screenshot is not None:
            try:
                save_image(self.grab(), self.options.screenshot)
            except HgposeError as exc:
                self.automation_error = exc  # the command's error line and exit code say why
        print(self.summary(), flush=True)
        self.close()

    # Shutdown.
    def shutdown(self) -> None:
        """Stop every thread: capture first (no new frames), then the worker, which finishes any
        recording with the frames it has processed (a frame still waiting in the slot is dropped)."""
        if self._closed:
            return
        self._closed = True
        self._stop_capture()
        self.worker.stop()
        self.slot.close()
        if not self.worker.wait(THREAD_STOP_MS):
            # A model load or a slow inference: wait on, because leaving the thread running would
            # abort the process and lose the recording the worker finishes on its way out.
            print("hgpose app: waiting for the inference thread to finish...", file=sys.stderr)
            self.worker.wait()
        for capture in self._stale_captures:
            capture.wait(THREAD_STOP_MS)

    def closeEvent(self, event: QCloseEvent | None) -> None:
        self.shutdown()
        super().closeEvent(event)
