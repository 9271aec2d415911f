"""Frame sources for offline work: a video file, a folder of images, or a single image.

Every source yields :class:`Frame` records in order. Video decoding runs in a background thread
that fills a small queue (OpenCV releases the GIL while decoding), so inference never waits on
the decoder when both can run.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import cv2
import numpy as np

from engine.errors import InputError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv")


@dataclass(frozen=True)
class Frame:
    """A decoded frame: (H, W, 3) uint8 BGR image, 0-based index, time in seconds, and its file
    name for image folders."""

    index: int
    timestamp: float
    image: np.ndarray
    name: str = ""


@dataclass
class SourceInfo:
    """What is known about a source before and after reading it."""

    path: str
    kind: str  # "video" | "images" | "image"
    width: int
    height: int
    fps: float
    frame_count: int  # as reported by the container (videos) or the number of files
    skipped: list[dict[str, str]] = field(default_factory=list)


def read_image(path: Path) -> np.ndarray | None:
    """Decode an image file to (H, W, 3) uint8 BGR, or None when it is not a decodable image."""
    data = np.fromfile(str(path), dtype=np.uint8)  # fromfile: works with non-ASCII paths too
    if data.size == 0:
        return None
    return cv2.imdecode(data, cv2.IMREAD_COLOR)


_S = TypeVar("_S", bound="_Source")


class _Source:
    """Sources are context managers: ``close`` frees what opening holds (a video's decoder)."""

    def close(self) -> None:
        """Release resources; the source cannot be iterated afterwards. Idempotent."""

    def __enter__(self: _S) -> _S:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class VideoSource(_Source):
    """Frames of a video file decoded in a background thread.

    Raises ``InputError`` at construction when the path is missing or a folder, or the file cannot
    be opened or its first frame cannot be decoded, so a bad input is reported before any output is
    created.
    """

    def __init__(self, path: Path, prefetch: int = 8) -> None:
        self.path = Path(path)
        # OpenCV reports a missing file or a folder only as "cannot open", which sends the user
        # looking for a codec problem; say what is actually wrong first.
        if not self.path.exists():
            raise InputError(f"video {self.path} does not exist")
        if self.path.is_dir():
            raise InputError(f"{self.path} is a folder, not a video file")
        cap = cv2.VideoCapture(str(self.path))
        if not cap.isOpened():
            raise InputError(f"cannot open video {self.path} (unsupported or corrupt file)")
        ok, first = cap.read()
        if not ok or first is None:
            cap.release()
            raise InputError(f"cannot decode video {self.path}: no frame could be read (corrupt or empty file)")
        fps = cap.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps and np.isfinite(fps) and fps > 0 else 30.0
        self.info = SourceInfo(str(self.path), "video", first.shape[1], first.shape[0], self.fps,
                               int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0))
        self._cap, self._first, self._prefetch = cap, first, prefetch
        self._stop = threading.Event()

    def close(self) -> None:
        # An FFmpeg context with its own threads: release it even if the source is never iterated.
        self._stop.set()
        self._cap.release()

    def __iter__(self) -> Iterator[Frame]:
        # Items: a frame, None (end of stream) or the exception that stopped the decoder.
        q: queue.Queue[np.ndarray | BaseException | None] = queue.Queue(maxsize=self._prefetch)

        def offer(item: np.ndarray | BaseException | None) -> bool:
            """Queue ``item`` unless the consumer has stopped; never blocks past a stop."""
            while not self._stop.is_set():
                try:
                    q.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        def decode() -> None:
            try:
                while not self._stop.is_set():
                    ok, img = self._cap.read()
                    if not ok or img is None:
                        break
                    if not offer(img):
                        return
            except Exception as exc:  # handed to the consumer, which raises it in its own thread
                offer(exc)
                return
            offer(None)

        thread = threading.Thread(target=decode, name="hgpose-decode", daemon=True)
        thread.start()
        try:
            yield Frame(0, 0.0, self._first)
            index = 1
            while (item := q.get()) is not None:
                if isinstance(item, BaseException):
                    raise InputError(f"decoding {self.path} failed at frame {index} ({item})") from item
                yield Frame(index, index / self.fps, item)
                index += 1
        finally:
            self._stop.set()
            thread.join(timeout=2.0)
            self._cap.release()


class ImageFolderSource(_Source):
    """Images of a folder in name order; non-images and undecodable files are skipped and listed."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        files = sorted(p for p in self.path.iterdir() if p.is_file() and not p.name.startswith("."))
        self.files = files
        self.info = SourceInfo(str(self.path), "images", 0, 0, 0.0, len(files))
        first = next((img for p in files if (img := self._load(p, record=False)) is not None), None)
        if first is None:
            raise InputError(f"folder {self.path} contains no readable images")
        self.info.height, self.info.width = first.shape[:2]

    def _load(self, path: Path, record: bool = True) -> np.ndarray | None:
        img = read_image(path) if path.suffix.lower() in IMAGE_SUFFIXES else None
        if img is None and record:
            reason = "not an image file" if path.suffix.lower() not in IMAGE_SUFFIXES else "cannot be decoded"
            self.info.skipped.append({"file": path.name, "reason": reason})
        return img

    def __iter__(self) -> Iterator[Frame]:
        index = 0
        for p in self.files:
            img = self._load(p)
            if img is not None:
                yield Frame(index, 0.0, img, p.name)
                index += 1


class ImageSource(_Source):
    """A single image file."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        img = read_image(self.path)
        if img is None:
            raise InputError(f"cannot decode image {self.path}")
        self.image = img
        self.info = SourceInfo(str(self.path), "image", img.shape[1], img.shape[0], 0.0, 1)

    def __iter__(self) -> Iterator[Frame]:
        yield Frame(0, 0.0, self.image, self.path.name)


def open_source(path: Path) -> VideoSource | ImageFolderSource | ImageSource:
    """Open a video, an image folder or an image; ``InputError`` if it is missing or unreadable."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"input {path} does not exist")
    if path.is_dir():
        return ImageFolderSource(path)
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return ImageSource(path)
    return VideoSource(path)
