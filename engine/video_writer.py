"""An MP4 writer that only ever leaves a complete file at its destination.

Frames go to a hidden temporary file beside the target; :meth:`AtomicVideoWriter.close` finalises
the container and renames it into place, also after an interruption (the frames so far form a
valid, shorter video). :meth:`AtomicVideoWriter.discard` removes it instead.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

import cv2
import numpy as np

from engine.atomic import publish
from engine.errors import OutputError


class AtomicVideoWriter:
    """Writes (H, W, 3) uint8 BGR frames of one size to an MP4 file (codec ``mp4v``)."""

    def __init__(self, target: Path, fps: float, size: tuple[int, int], fourcc: str = "mp4v") -> None:
        self.target = Path(target)
        self.size = size
        try:
            self.target.parent.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(dir=self.target.parent, prefix=f".{self.target.stem}-",
                                        suffix=self.target.suffix or ".mp4")
            os.close(fd)
        except OSError as exc:
            raise OutputError(f"cannot write {self.target} ({exc.strerror or exc})") from None
        self.tmp = Path(name)
        self.writer = cv2.VideoWriter(str(self.tmp), cv2.VideoWriter.fourcc(*fourcc), fps if fps > 0 else 30.0,
                                      size)
        if not self.writer.isOpened():
            self.tmp.unlink(missing_ok=True)
            raise OutputError(f"cannot create video {self.target}: OpenCV has no {fourcc} encoder here")
        self.frames = 0

    def write(self, frame: np.ndarray) -> None:
        """Append a (H, W, 3) uint8 BGR frame; one of another size (an image folder) is letterboxed:
        scaled to fit, centred on black, never stretched."""
        if (frame.shape[1], frame.shape[0]) != self.size:
            frame = letterbox(frame, self.size)
        self.writer.write(frame)
        self.frames += 1

    def close(self) -> Path | None:
        """Finalise and move into place; with no frames written nothing is created. Idempotent."""
        if self.writer is None:
            return self.target if self.target.exists() else None
        self.writer.release()
        self.writer = None  # type: ignore[assignment]
        if self.frames == 0:
            self.tmp.unlink(missing_ok=True)
            return None
        try:
            publish(self.tmp, self.target)
        except OutputError:
            self.tmp.unlink(missing_ok=True)
            raise
        return self.target

    def discard(self) -> None:
        if self.writer is not None:
            self.writer.release()
            self.writer = None  # type: ignore[assignment]
        with contextlib.suppress(OSError):
            self.tmp.unlink()


def letterbox(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``frame`` scaled to fit ``size`` (width, height) with its aspect ratio kept, centred on black."""
    w, h = size
    scale = min(w / frame.shape[1], h / frame.shape[0])
    fw, fh = max(1, round(frame.shape[1] * scale)), max(1, round(frame.shape[0] * scale))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    out = np.zeros((h, w, 3), np.uint8)
    x0, y0 = (w - fw) // 2, (h - fh) // 2
    out[y0:y0 + fh, x0:x0 + fw] = cv2.resize(frame, (fw, fh), interpolation=interpolation)
    return out


def count_video_frames(path: Path) -> int:
    """Decode ``path`` to the end and count its frames (container counts can be estimates)."""
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.grab():
        n += 1
    cap.release()
    return n
