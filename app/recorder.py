"""Recording: the annotated video (MP4) plus the keypoints and angles in the ``hgpose annotate`` schema.

The recorder runs in the inference thread, so it sees every processed frame in order and the video
and the JSON always hold the same frames.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.capture import FramePacket
from app.overlay import OverlayOptions, annotate
from engine.annotate import model_header, write_outputs
from engine.annotations import AnnotationLog
from engine.atomic import ensure_writable_dir, remove_stale_temps
from engine.backends.base import Backend
from engine.errors import OutputError
from engine.free_space import NOTHING_WRITTEN, FreeSpaceGuard
from engine.pipeline import PipelineConfig, PoseResult
from engine.video_writer import AtomicVideoWriter


@dataclass(frozen=True)
class RecordingRequest:
    """Where to record: ``out_dir/<stem>.mp4``, ``.json`` and ``.csv``."""

    out_dir: Path
    stem: str


@dataclass(frozen=True)
class RecordingSummary:
    video_path: Path | None
    json_path: Path
    csv_path: Path
    frames: int


# What free_stem makes: a recording's or screenshot's name, for sweeping up what a killed app left.
STEM_PATTERN = re.compile(r".+-\d{8}-\d{6}(?:-\d+)?")


def free_stem(out_dir: Path, prefix: str) -> str:
    """``<prefix>-<date>-<time>``, with a counter when that name is taken in ``out_dir``."""
    base = f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}"
    stem, n = base, 1
    while any((out_dir / f"{stem}{ext}").exists() for ext in (".mp4", ".json", ".csv", ".png")):
        n += 1
        stem = f"{base}-{n}"
    return stem


# A live recording measures its frame rate over its first frames before it opens the video: the
# rate frames are recorded at (inference plus drawing and encoding) is only known once they arrive.
RATE_PROBE_FRAMES = 15
RATE_PROBE_SECONDS = 1.0


class Recorder:
    """Writes frames of one source; created on the first frame after a start request."""

    def __init__(self, request: RecordingRequest, first: FramePacket, backend: Backend, live_fps: float,
                 angle_min_confidence: float, reading: PipelineConfig) -> None:
        """``live_fps``: the rate a live source is being processed at, used when a live recording is
        too short to measure its own (frames are dropped to keep up, so the camera's nominal rate
        would play the video too fast).
        ``angle_min_confidence``: the drawing threshold when the recording starts; angles of joints
        below it are null in the files, as they are blank on screen.
        ``reading``: how poses are read when the recording starts (flip mode, zoom test; the header
        says so)."""
        info = first.source
        self.source = info
        self.skeleton = backend.metadata.skeleton_spec
        out = ensure_writable_dir(request.out_dir)  # fail now, not when the live rate is known
        # Each recording has a new name, so a killed app's hidden temporaries (its video, its frame
        # journal) would never be replaced: sweep up the ones no running app holds.
        remove_stale_temps(out, STEM_PATTERN)
        self.video_path = out / f"{request.stem}.mp4"
        self.json_path, self.csv_path = out / f"{request.stem}.json", out / f"{request.stem}.csv"
        self._live_fps = live_fps
        self._pending: list[tuple[float, np.ndarray]] = []  # live: (capture time, drawn frame) until the rate is known
        self.writer: AtomicVideoWriter | None = None
        self.guard = FreeSpaceGuard(out)
        self.log = AnnotationLog(self.json_path, self.csv_path, source=info.header(),
                                 model=model_header(backend, reading), skeleton=self.skeleton,
                                 angle_min_confidence=angle_min_confidence)
        if not info.spec.live:
            try:
                self._open(info.fps)  # a file's own rate: its frames are all processed
            except BaseException:
                self.log.discard()
                raise

    def _open(self, fps: float) -> None:
        # The JSON time stamps hold the real timing either way.
        self.writer = AtomicVideoWriter(self.video_path, fps, (self.source.width, self.source.height))

    def _measured_fps(self) -> float:
        times = [t for t, _ in self._pending]
        if len(times) >= 2 and times[-1] > times[0]:
            rate = (len(times) - 1) / (times[-1] - times[0])
        else:
            rate = self._live_fps if self._live_fps > 0 else self.source.fps
        return round(min(rate, self.source.fps), 2)

    def _flush(self) -> None:
        self._open(self._measured_fps())
        assert self.writer is not None
        for _, frame in self._pending:
            self.writer.write(frame)
        self._pending.clear()

    def add(self, packet: FramePacket, result: PoseResult, overlay: OverlayOptions) -> None:
        """Record one frame; ``OutputError`` when the disk is (nearly) full: call :meth:`discard` then."""
        pending = self.log.pending_bytes() + (self.writer.pending_bytes() if self.writer is not None else 0)
        try:
            self.guard.check(pending, self.log.count)
        except OutputError as exc:
            raise OutputError(f"{exc}; {NOTHING_WRITTEN}") from None
        frame = annotate(packet.image, result, self.skeleton, overlay)
        if self.writer is not None:
            self.writer.write(frame)
        else:
            self._pending.append((packet.captured_at, frame))
            span = self._pending[-1][0] - self._pending[0][0]
            if len(self._pending) >= RATE_PROBE_FRAMES or span >= RATE_PROBE_SECONDS:
                self._flush()
        self.log.add(result, packet.name)

    def discard(self) -> None:
        """Abandon the recording: remove its temporary files."""
        self._pending.clear()
        if self.writer is not None:
            self.writer.discard()
        self.log.discard()

    def finish(self) -> RecordingSummary:
        """Close the video and write JSON and CSV with exactly the frames the video holds.

        Raises ``OutputError`` when the video did not come out whole (a full disk); nothing is
        written then."""
        try:
            if self.writer is None:
                self._flush()  # a live recording shorter than the rate probe
            assert self.writer is not None
            self.log.truncate(self.writer.frames)
        except BaseException as exc:
            self.discard()
            if isinstance(exc, OutputError):
                raise OutputError(f"{exc}; {NOTHING_WRITTEN}") from None
            raise
        video = write_outputs(self.log, self.writer, complete=True)
        assert video is not None  # a writer was given
        return RecordingSummary(video, self.json_path, self.csv_path, self.log.frames)
