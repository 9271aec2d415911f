"""Frame readers behind the capture thread.

Cameras, stream URLs and video files go through ``cv2.VideoCapture`` (which also gives files exact
seeking); image folders and single images through ``engine.sources.read_image``. Opening raises
``InputError`` with a message fit for the UI's banner.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from app.source_spec import SourceSpec
from engine.errors import InputError
from engine.sources import IMAGE_SUFFIXES, read_image

STILLS_FPS = 5.0  # image folders are shown as a slide show at this rate (times the speed)
STREAM_TIMEOUT_MS = 5000  # a dead URL fails within this instead of hanging the capture thread
CAMERA_PROBE_LIMIT = 6  # indices 0..5 are checked when listing cameras


def quiet_opencv() -> None:
    """OpenCV logs a warning per failed camera probe; the app reports failures itself."""
    with contextlib.suppress(AttributeError):
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)


@contextlib.contextmanager
def silent_opencv() -> Iterator[None]:
    """OpenCV's log silenced for the block, then back as it was: a camera index that does not exist
    is logged at ERROR level ("Camera index out of range"), above :func:`quiet_opencv`'s level, and
    the app says so itself in one line."""
    logging = getattr(getattr(cv2, "utils", None), "logging", None)
    if logging is None:
        yield
        return
    previous = logging.getLogLevel()
    logging.setLogLevel(logging.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        logging.setLogLevel(previous)


def open_camera(index: int) -> cv2.VideoCapture:
    """``cv2.VideoCapture(index)`` without OpenCV's own lines about a camera that is not there."""
    with silent_opencv():
        return cv2.VideoCapture(index)


@dataclass(frozen=True)
class ReaderInfo:
    """What an opened source is; ``header()`` is the ``source`` block of the annotation schema."""

    spec: SourceSpec
    kind: str  # schema kind: video | images | image | camera (URL streams are live like a camera)
    width: int
    height: int
    fps: float
    frame_count: int  # 0 when unknown (live sources)
    seekable: bool
    stills: bool  # unrelated images: no tracking or smoothing across frames

    def header(self) -> dict[str, object]:
        return {"path": self.spec.target, "kind": self.kind, "width": self.width, "height": self.height,
                "fps": self.fps, "frame_count": self.frame_count}


class FrameReader(ABC):
    """Sequential frames with optional seeking; used by one thread only."""

    info: ReaderInfo

    @property
    def length(self) -> int:
        """Frames the source holds as far as reading has shown: ``info.frame_count`` until a file
        ends before its container said it would (a cut or damaged file)."""
        return self.info.frame_count

    @abstractmethod
    def read(self) -> tuple[int, np.ndarray, str] | None:
        """The next (frame index, BGR image, file name), or None at the end or on a failure."""

    def seek(self, index: int) -> None:
        """Make the next :meth:`read` return frame ``index`` (seekable sources only)."""
        raise InputError(f"{self.info.spec.in_messages} cannot seek")

    def close(self) -> None:
        return None


class CvReader(FrameReader):
    """A camera, URL or video file through ``cv2.VideoCapture``.

    The first frame is read while opening, so an unreadable file or a dead camera fails here rather
    than later in the stream.
    """

    def __init__(self, spec: SourceSpec) -> None:
        if spec.kind == "camera":
            cap = open_camera(int(spec.target))
            if cap.isOpened() and spec.resolution:
                cap.set(cv2.CAP_PROP_FRAME_WIDTH, spec.resolution[0])
                cap.set(cv2.CAP_PROP_FRAME_HEIGHT, spec.resolution[1])
            what = f"camera {spec.target} is not available (unplugged, in use, or no such index)"
        elif spec.kind == "url":
            cap = cv2.VideoCapture(spec.target, cv2.CAP_FFMPEG,
                                   [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, STREAM_TIMEOUT_MS,
                                    cv2.CAP_PROP_READ_TIMEOUT_MSEC, STREAM_TIMEOUT_MS])
            what = f"cannot open stream {spec.target} (unreachable, or not a video stream)"
        else:
            path = Path(spec.target)
            if not path.is_file():
                raise InputError(f"video {path} does not exist")
            cap = cv2.VideoCapture(str(path))
            what = f"cannot open video {path} (unsupported or corrupt file)"
        if not cap.isOpened():
            cap.release()
            raise InputError(what)
        ok, first = cap.read()
        if not ok or first is None:
            cap.release()
            raise InputError(f"{spec.in_messages}: no frame could be read (corrupt or empty file, or a dead device)")
        live = spec.live
        fps = cap.get(cv2.CAP_PROP_FPS)
        fps = float(fps) if fps and np.isfinite(fps) and 0 < fps < 1000 else 30.0
        count = 0 if live else int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.info = ReaderInfo(spec, "camera" if live else "video", first.shape[1], first.shape[0], fps,
                               count, seekable=not live and count > 0, stills=False)
        self._cap = cap
        self._pending: np.ndarray | None = first
        self._next = 0
        self._length = count
        # Reading from frame 0 without a seek counts frames exactly; after a seek past a file's real
        # end OpenCV may still hand back a frame, so only a run from the start can tell the length.
        self._from_start = True

    @property
    def length(self) -> int:
        return self._length

    def read(self) -> tuple[int, np.ndarray, str] | None:
        img: np.ndarray | None
        if self._pending is not None:
            img, self._pending = self._pending, None
        else:
            ok, img = self._cap.read()
            if not ok or img is None:
                if self._from_start and 0 < self._next < self._length:
                    self._length = self._next  # the file ends early: only these frames decode
                return None
        self._next += 1
        return self._next - 1, img, ""

    def seek(self, index: int) -> None:
        self._pending = None
        self._cap.set(cv2.CAP_PROP_POS_FRAMES, index)
        self._next = index
        self._from_start = index == 0

    def close(self) -> None:
        self._cap.release()


class StillsReader(FrameReader):
    """The images of a folder in name order, or one image; the frame index is the file's position.

    Files are decoded when read (a folder may be large); undecodable ones are skipped.
    """

    def __init__(self, spec: SourceSpec) -> None:
        path = Path(spec.target)
        if not path.exists():
            raise InputError(f"{'folder' if spec.kind == 'folder' else 'image'} {path} does not exist")
        self._files = [path] if path.is_file() else sorted(
            p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        self._next = 0
        first = self.read()
        if first is None:
            raise InputError(f"{path} holds no readable images" if path.is_dir() else f"cannot decode image {path}")
        self._next = 0
        h, w = first[1].shape[:2]
        self.info = ReaderInfo(spec, "images" if path.is_dir() else "image", w, h, STILLS_FPS,
                               len(self._files), seekable=True, stills=True)

    def read(self) -> tuple[int, np.ndarray, str] | None:
        while self._next < len(self._files):
            index, self._next = self._next, self._next + 1
            img = read_image(self._files[index])
            if img is not None:
                return index, img, self._files[index].name
        return None

    def seek(self, index: int) -> None:
        self._next = index


def open_reader(spec: SourceSpec) -> FrameReader:
    """Open ``spec``; raises ``InputError`` with a one-line reason when it cannot be read."""
    quiet_opencv()
    if spec.kind in ("folder", "image"):
        return StillsReader(spec)
    return CvReader(spec)


def list_cameras(limit: int = CAMERA_PROBE_LIMIT) -> list[int]:
    """Indices of the cameras that open (probing takes a moment per index on some systems)."""
    quiet_opencv()
    found = []
    for index in range(limit):
        cap = open_camera(index)
        if cap.isOpened():
            found.append(index)
        cap.release()
    return found

