"""The inference thread: owns the backend, the pose pipeline and the recorder.

The UI talks to it through thread-safe requests (load a model, change options, start or stop a
recording) that run between frames, and it hands results back through a one-result mailbox plus a
signal, so a slow UI sees the newest pose instead of a growing queue.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PyQt6.QtCore import QThread, pyqtSignal

from app.capture import FramePacket
from app.frame_slot import LatestSlot
from app.overlay import OverlayOptions
from app.rate_meter import RateMeter
from app.recorder import Recorder, RecordingRequest
from engine.angles import joint_angles
from engine.backends.base import Backend
from engine.backends.registry import open_backend
from engine.errors import HgposeError
from engine.pipeline import PipelineConfig, PosePipeline, PoseResult
from engine.skeleton import Skeleton


@dataclass(frozen=True)
class ModelInfo:
    """The loaded model, for the status bar."""

    backend: str
    device: str
    model: str
    path: Path
    skeleton: Skeleton
    joint_threshold: float = 0.3  # the model's calibrated confidence threshold, without the flip test
    fallbacks: tuple[str, ...] = ()  # why ``auto`` passed over faster backends
    precision: str = "fp32"  # of the file running: fp32, fp16 or int8
    flip_threshold: float | None = None  # the same with the flip test (None: as without)

    def threshold_for(self, flip_test: bool) -> float:
        """The calibrated threshold for joints read with or without the flip test."""
        return self.flip_threshold if flip_test and self.flip_threshold is not None else self.joint_threshold

    @classmethod
    def of(cls, backend: Backend) -> ModelInfo:
        m = backend.metadata
        return cls(backend.name, backend.device, m.name or backend.model_path.name, backend.model_path,
                   m.skeleton_spec, m.joint_threshold, tuple(backend.fallbacks), m.precision, m.threshold_for(True))


@dataclass(frozen=True)
class WorkerOutput:
    """One processed frame.

    Attributes:
        packet: the captured frame.
        result: its pose.
        skeleton: the joint set of ``result``.
        angles: joint angles in degrees (NaN where a joint is missing), see ``engine.angles``.
        infer_fps: processed frames per second, recent.
        processed: frames processed since this source was opened.
        done_at: ``time.perf_counter()`` when processing ended.
    """

    packet: FramePacket
    result: PoseResult
    skeleton: Skeleton
    angles: dict[str, float]
    infer_fps: float
    processed: int
    done_at: float


class InferenceWorker(QThread):
    """Takes frames from the slot, estimates poses, records, and publishes the newest result.

    Signals:
        result_ready(): a new :class:`WorkerOutput` waits in :meth:`take_latest`.
        model_loaded(ModelInfo): a model is ready (also the initial one).
        error(str): a model could not be loaded, or a frame or recording failed.
        recording_started(Path), recording_stopped(RecordingSummary, or None when it failed).
    """

    result_ready = pyqtSignal()
    model_loaded = pyqtSignal(object)
    error = pyqtSignal(str)
    recording_started = pyqtSignal(object)
    recording_stopped = pyqtSignal(object)

    def __init__(self, slot: LatestSlot[FramePacket], backend: Backend, config: PipelineConfig,
                 overlay: OverlayOptions, max_frames: int | None = None) -> None:
        super().__init__()
        self.setObjectName("hgpose-inference")
        self.slot = slot
        self.backend: Backend | None = backend
        self.pipeline = PosePipeline(backend, config)
        self.overlay = overlay
        self.max_frames = max_frames
        self.processed = 0  # frames with a pose since the source opened
        self.handled = 0  # frames taken from the slot and finished with, failed ones included; never reset
        self._source: object | None = None  # the source of the last packet (identity marks a new one)
        self.meter = RateMeter()
        self._requests: queue.Queue[Callable[[], None]] = queue.Queue()
        self._stop = threading.Event()
        self._mailbox_lock = threading.Lock()
        self._latest: WorkerOutput | None = None
        self._notified = False
        self._recording: RecordingRequest | None = None
        self._recorder: Recorder | None = None
        self._last_error = ""

    # Requests, from any thread; they run in the worker between frames.
    def load_model(self, path: Path, backend_name: str, precision: str = "auto",
                   spinning: bool | None = None) -> None:
        self._requests.put(lambda: self._load_model(path, backend_name, precision, spinning))

    def set_pipeline_config(self, config: PipelineConfig) -> None:
        self._requests.put(lambda: self.pipeline.reconfigure(config))

    def set_overlay(self, overlay: OverlayOptions) -> None:
        self.overlay = overlay  # an atomic reference swap; read once per recorded frame

    def start_recording(self, request: RecordingRequest) -> None:
        self._requests.put(lambda: self._start_recording(request))

    def stop_recording(self) -> None:
        self._requests.put(self._stop_recording)

    def stop(self) -> None:
        self._stop.set()

    def take_latest(self) -> WorkerOutput | None:
        """The newest result (None if already taken); re-arms :attr:`result_ready`."""
        with self._mailbox_lock:
            out, self._latest, self._notified = self._latest, None, False
            return out

    # The thread.
    def run(self) -> None:
        try:
            if self.backend is not None:
                self.model_loaded.emit(ModelInfo.of(self.backend))
            while not self._stop.is_set():
                self._run_requests()
                if self.max_frames is not None and self.processed >= self.max_frames:
                    self._stop.wait(0.05)
                    continue
                packet = self.slot.take(timeout=0.05)
                if packet is not None:
                    try:
                        self._process(packet)
                    except Exception as exc:  # reported in the banner; the next frame is tried
                        self._report(f"internal error: {exc.__class__.__name__}: {exc}")
                    self.handled += 1
        finally:
            self._run_requests()  # a stop_recording queued during shutdown still finishes the files
            self._stop_recording()
            if self.backend is not None:
                self.backend.close()
                self.backend = None

    def _run_requests(self) -> None:
        while True:
            try:
                request = self._requests.get_nowait()
            except queue.Empty:
                return
            try:
                request()
            except Exception as exc:  # a bug in one request must not end the thread (and the app)
                self._report(f"internal error: {exc.__class__.__name__}: {exc}")

    def _report(self, message: str) -> None:
        if message != self._last_error:  # a failure repeating every frame is shown once
            self._last_error = message
            self.error.emit(message)

    def _process(self, packet: FramePacket) -> None:
        if packet.source is not self._source:
            # The first frame of a new source, seen here in the worker thread: a reset requested from
            # the UI thread could land after this frame and zero the count that frame already made.
            self._source = packet.source
            self._new_source()
        try:
            if packet.source.stills:
                result = self.pipeline.process_image(packet.image, packet.index)
            else:
                if packet.jump:
                    self.pipeline.reset()  # do not track or smooth across a seek, loop or new source
                result = self.pipeline.process(packet.image, packet.index, packet.timestamp)
        except Exception as exc:  # a runtime failure of the backend: report it, keep the thread alive
            self._report(f"inference failed: {exc}")
            return
        skeleton = self.pipeline.backend.metadata.skeleton_spec
        overlay = self.overlay
        self._record(packet, result, overlay)
        self.processed += 1
        now = time.perf_counter()
        self.meter.tick(now)
        angles = joint_angles(result.keypoints, skeleton, min_confidence=overlay.threshold)
        out = WorkerOutput(packet, result, skeleton, angles, self.meter.rate, self.processed, now)
        with self._mailbox_lock:
            self._latest = out
            notify, self._notified = not self._notified, True
        if notify:
            self.result_ready.emit()

    def _record(self, packet: FramePacket, result: PoseResult, overlay: OverlayOptions) -> None:
        if self._recording is None or self.backend is None:
            return
        try:
            if self._recorder is not None and self._recorder.source is not packet.source:
                self._stop_recording()  # a recording holds one source
                return
            if self._recorder is None:
                self._recorder = Recorder(self._recording, packet, self.backend, self.meter.rate, overlay.threshold,
                                          self.pipeline.config)
                self.recording_started.emit(self._recorder.video_path)
            self._recorder.add(packet, result, overlay)
        except Exception as exc:  # HgposeError, OSError, cv2.error: the recording stops, the app goes on
            if self._recorder is not None:
                self._recorder.discard()
            self._recording, self._recorder = None, None
            self._report(f"recording failed: {exc}")
            self.recording_stopped.emit(None)

    def _start_recording(self, request: RecordingRequest) -> None:
        self._stop_recording()
        self._recording = request

    def _stop_recording(self) -> None:
        recorder, self._recorder, self._recording = self._recorder, None, None
        if recorder is None:
            return
        try:
            summary = recorder.finish()
        except (HgposeError, OSError) as exc:
            self._report(f"recording failed: {exc}")
            self.recording_stopped.emit(None)
            return
        self.recording_stopped.emit(summary)

    def _new_source(self) -> None:
        self.processed = 0  # frames with a pose since the source opened (``handled`` is never reset)
        self.meter.reset()
        self._last_error = ""

    def _load_model(self, path: Path, backend_name: str, precision: str, spinning: bool | None) -> None:
        try:
            backend = open_backend(path, backend_name, precision=precision, spinning=spinning)
        except HgposeError as exc:
            self._report(f"cannot load model: {exc}")
            return
        except Exception as exc:  # e.g. a runtime library failing to initialise
            self._report(f"cannot load model {path}: {exc}")
            return
        self._stop_recording()  # a recording's header names one model
        old, self.backend = self.backend, backend
        self.pipeline = PosePipeline(backend, self.pipeline.config)
        if old is not None:
            old.close()
        self._last_error = ""
        self.model_loaded.emit(ModelInfo.of(backend))
