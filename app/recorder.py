"""Recording: the annotated video (MP4) plus the keypoints and angles in the ``hgpose annotate`` schema.

The recorder runs in the inference thread, so it sees every processed frame in order and the video
and the JSON always hold the same frames.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from app.capture import FramePacket
from app.overlay import OverlayOptions, annotate
from engine.annotate import model_header
from engine.annotations import AnnotationLog
from engine.backends.base import Backend
from engine.pipeline import PoseResult
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


def free_stem(out_dir: Path, prefix: str) -> str:
    """``<prefix>-<date>-<time>``, with a counter when that name is taken in ``out_dir``."""
    base = f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}"
    stem, n = base, 1
    while any((out_dir / f"{stem}{ext}").exists() for ext in (".mp4", ".json", ".csv", ".png")):
        n += 1
        stem = f"{base}-{n}"
    return stem


class Recorder:
    """Writes frames of one source; created on the first frame after a start request."""

    def __init__(self, request: RecordingRequest, first: FramePacket, backend: Backend, live_fps: float,
                 angle_min_confidence: float) -> None:
        """``live_fps``: the frame rate a live source is being processed at (frames are dropped to
        keep up, so the camera's nominal rate would play the video too fast).
        ``angle_min_confidence``: the drawing threshold when the recording starts; angles of joints
        below it are null in the files, as they are blank on screen."""
        info = first.source
        self.source = info
        self.skeleton = backend.metadata.skeleton_spec
        out = request.out_dir
        self.json_path, self.csv_path = out / f"{request.stem}.json", out / f"{request.stem}.csv"
        fps = info.fps if not info.spec.live or live_fps <= 0 else min(info.fps, round(live_fps, 1))
        # The JSON time stamps hold the real timing either way.
        self.writer = AtomicVideoWriter(out / f"{request.stem}.mp4", fps, (info.width, info.height))
        self.log = AnnotationLog(source=info.header(), model=model_header(backend), skeleton=self.skeleton,
                                 angle_min_confidence=angle_min_confidence)

    def add(self, packet: FramePacket, result: PoseResult, overlay: OverlayOptions) -> None:
        self.writer.write(annotate(packet.image, result, self.skeleton, overlay))
        self.log.add(result, packet.name)

    def finish(self) -> RecordingSummary:
        """Close the video and write JSON and CSV with exactly the frames the video holds."""
        self.log.truncate(self.writer.frames)
        video = self.writer.close()
        self.log.write(self.json_path, self.csv_path, complete=True)
        return RecordingSummary(video, self.json_path, self.csv_path, len(self.log.frames))
