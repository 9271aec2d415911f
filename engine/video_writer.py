"""An MP4 writer that only ever leaves a complete, playable file at its destination.

Frames go to a hidden temporary file beside the target; :meth:`AtomicVideoWriter.finish`
finalises the container and checks it, :meth:`AtomicVideoWriter.publish` renames it into place
(:meth:`AtomicVideoWriter.close` does both), also after an interruption (the frames so far form a
valid, shorter video). :meth:`AtomicVideoWriter.discard` removes it instead.

OpenCV's writer never reports a failed write (a full disk only logs "Failed to write frame" and
leaves a file without an index), so ``finish`` reopens the file and counts its frames.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from engine.atomic import TempFile, publish
from engine.errors import OutputError
from engine.render import even_size, pad_to_even

MIN_SIDE = 2  # the smallest width and height OpenCV's MP4 encoders accept
# What the container's index (moov) takes per frame, about: sample size, offset and time entries.
INDEX_BYTES_PER_FRAME = 64


class AtomicVideoWriter:
    """Writes (H, W, 3) uint8 BGR frames of one size to an MP4 file (codec ``mp4v``).

    An odd ``size`` is encoded one pixel larger (:func:`engine.render.even_size`) and its frames are
    padded with black on the right or bottom, so frame pixels keep their coordinates."""

    def __init__(self, target: Path, fps: float, size: tuple[int, int], fourcc: str = "mp4v") -> None:
        self.target = Path(target)
        self.frame_size = size
        self.size = even_size(*size)
        if min(size) < MIN_SIDE:
            raise OutputError(f"cannot create video {self.target}: {size[0]}x{size[1]} pixels is too small "
                              f"to encode (at least {MIN_SIDE}x{MIN_SIDE})")
        self._temp = TempFile(self.target, self.target.suffix or ".mp4")
        self.tmp = self._temp.path
        self.writer = cv2.VideoWriter(str(self.tmp), cv2.VideoWriter.fourcc(*fourcc), fps if fps > 0 else 30.0,
                                      self.size)
        if not self.writer.isOpened():
            self._temp.remove()
            raise OutputError(f"cannot create video {self.target}: OpenCV has no {fourcc} encoder here")
        self.frames = 0
        self._finished = False

    def write(self, frame: np.ndarray) -> None:
        """Append a (H, W, 3) uint8 BGR frame; one of another size (an image folder) is letterboxed:
        scaled to fit, centred on black, never stretched."""
        if (frame.shape[1], frame.shape[0]) == self.frame_size:
            frame = pad_to_even(frame)
        elif (frame.shape[1], frame.shape[0]) != self.size:
            frame = letterbox(frame, self.size)
        self.writer.write(frame)
        self.frames += 1

    def pending_bytes(self) -> int:
        """About how many bytes finalising still writes (the container's index)."""
        return INDEX_BYTES_PER_FRAME * self.frames

    def finish(self) -> None:
        """Finalise the temporary file and check that it plays: it must open and hold every frame
        written. Raises ``OutputError`` (and removes it) when it does not, as after a full disk.
        Idempotent."""
        if self.writer is None:
            return
        self.writer.release()
        self.writer = None  # type: ignore[assignment]
        held = count_frames_in_index(self.tmp) if self.frames else 0
        if held != self.frames:
            self._temp.remove()
            raise OutputError(f"cannot write {self.target}: the encoder stored {held} of {self.frames} frames "
                              "(is the disk full?)")
        self._finished = True

    def publish(self) -> Path | None:
        """Move the finished file into place (see :meth:`finish`); with no frames written nothing is
        created. Idempotent."""
        self.finish()
        if not self._finished:
            return self.target if self.target.exists() else None
        self._finished = False
        if self.frames == 0:
            self._temp.remove()
            return None
        try:
            publish(self.tmp, self.target)
        except OutputError:
            self._temp.remove()
            raise
        self._temp.release()
        return self.target

    def close(self) -> Path | None:
        """Finalise, check and move into place; with no frames written nothing is created."""
        return self.publish()

    def discard(self) -> None:
        if self.writer is not None:
            self.writer.release()
            self.writer = None  # type: ignore[assignment]
        self._finished = False
        self._temp.remove()


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


def count_frames_in_index(path: Path) -> int:
    """The frame count a video's container index gives, after checking that its last frame decodes;
    0 when the file does not open (no index) or the last frame is missing."""
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            return 0
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        if count > 1:
            cap.set(cv2.CAP_PROP_POS_FRAMES, count - 1)
        return count if count > 0 and cap.grab() else 0
    finally:
        cap.release()


def count_video_frames(path: Path) -> int:
    """Decode ``path`` to the end and count its frames (container counts can be estimates)."""
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.grab():
        n += 1
    cap.release()
    return n
