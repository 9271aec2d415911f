"""What the user asked to watch: a camera index, a stream URL, a video file, an image folder or an image."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engine.sources import IMAGE_SUFFIXES

LIVE_KINDS = ("camera", "url")


@dataclass(frozen=True)
class SourceSpec:
    """A source request, not yet opened.

    Attributes:
        kind: ``camera``, ``url``, ``video``, ``folder`` or ``image``.
        target: the camera index as text, the URL, or the path.
        resolution: requested camera (width, height); None keeps the driver's default.
    """

    kind: str
    target: str
    resolution: tuple[int, int] | None = None

    @property
    def live(self) -> bool:
        """Live sources cannot wait for inference, so stale frames are dropped instead."""
        return self.kind in LIVE_KINDS

    @property
    def label(self) -> str:
        if self.kind == "camera":
            size = f" at {self.resolution[0]}x{self.resolution[1]}" if self.resolution else ""
            return f"camera {self.target}{size}"
        if self.kind == "url":
            return self.target
        return Path(self.target).name or self.target

    @property
    def in_messages(self) -> str:
        """How error banners name the source: a file or folder by its full path, as every other
        banner (models, recordings, screenshots) names files, so the user can find it; cameras and
        streams by their label. The status bar keeps the short :attr:`label`."""
        return self.label if self.live else self.target


def parse_source(text: str, resolution: tuple[int, int] | None = None) -> SourceSpec:
    """``0`` -> camera 0, ``rtsp://...`` -> URL, a folder -> image folder, ``*.jpg`` -> image, else video."""
    text = text.strip()
    if text.isdigit():
        return SourceSpec("camera", str(int(text)), resolution)
    if "://" in text:
        return SourceSpec("url", text)
    path = Path(text).expanduser()
    if path.is_dir():
        return SourceSpec("folder", str(path))
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return SourceSpec("image", str(path))
    return SourceSpec("video", str(path))


def parse_size(text: str) -> tuple[int, int]:
    """``"1280x720"`` -> (1280, 720); ValueError otherwise."""
    w, sep, h = text.lower().partition("x")
    if not sep or not w.isdigit() or not h.isdigit() or int(w) <= 0 or int(h) <= 0:
        raise ValueError(f"expected WIDTHxHEIGHT, e.g. 1280x720, got {text!r}")
    return int(w), int(h)
