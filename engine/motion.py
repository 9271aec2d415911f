"""A motion cue for video: where something moved (to look for a person there first) and whether the
scene changed at all (to skip a search that would fail again).

Both come from small grey thumbnails (the frame sampled every few pixels, then OpenCV area
resize): differencing consecutive frames shows where a person walks or waves; comparing with the
frame of the last failed search tells a static scene, where the search would find nobody again,
from a changed one.

Frame: boxes are ``CropBox`` in frame pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from engine.crop import CropBox

GATE_SIZE = (64, 36)  # thumbnail for the change gate (width, height)
_CLOSE = np.ones((5, 5), np.uint8)  # dilation that closes the gaps in a walker's moving edges


@dataclass(frozen=True)
class MotionConfig:
    """Motion cue settings.

    Attributes:
        width: thumbnail width for motion proposals (height follows the frame's aspect).
        diff_threshold: grey-level change (0-255) that counts a thumbnail pixel as moving.
        min_area: a moving region smaller than this share of the thumbnail is noise.
        max_proposals: at most this many moving regions are proposed, largest first.
        gate_change: mean absolute grey-level change of the 64x36 thumbnail below which the scene
            counts as unchanged since the last failed search.
    """

    width: int = 160
    diff_threshold: int = 18
    min_area: float = 0.002
    max_proposals: int = 2
    gate_change: float = 1.0


def scene_changed(a: np.ndarray, b: np.ndarray, threshold: float) -> bool:
    """Whether two gate thumbnails differ by at least ``threshold`` grey levels on average."""
    return float(cv2.absdiff(a, b).mean()) >= threshold


class MotionCue:
    """Feed every frame of one source to :meth:`observe`; :meth:`proposals` then says where it moved."""

    def __init__(self, config: MotionConfig | None = None) -> None:
        self.config = config or MotionConfig()
        self.reset()

    def reset(self) -> None:
        self._prev: np.ndarray | None = None  # the blurred thumbnail before the last one
        self._last: np.ndarray | None = None  # the last one
        self.gate: np.ndarray | None = None  # this frame's 64x36 thumbnail
        self._frame_size = (0, 0)

    def observe(self, frame: np.ndarray) -> None:
        """Take the next (H, W, 3) frame: its thumbnails (the moving mask is only worked out when
        :meth:`proposals` asks, i.e. while the person is lost)."""
        h, w = frame.shape[:2]
        c = self.config
        # Every frame passes here, so the full-size frame is only sampled: every step-th pixel (a
        # 720p frame: every 4th), then area-averaged. Grey conversion and resizing of the whole
        # frame cost about 0.8 ms of a 4 ms INT8 crop; the sampled frame still holds 2x the
        # thumbnail's resolution, plenty to see a person move.
        step = max(1, w // (2 * c.width))
        sampled = frame[::step, ::step]
        grey = cv2.cvtColor(sampled, cv2.COLOR_BGR2GRAY) if sampled.ndim == 3 else sampled
        small = cv2.resize(grey, (c.width, max(1, round(c.width * h / w))), interpolation=cv2.INTER_AREA)
        self.gate = cv2.resize(small, GATE_SIZE, interpolation=cv2.INTER_AREA)
        small = cv2.GaussianBlur(small, (3, 3), 0)
        # A new frame size (a new source) starts afresh: no motion against another picture.
        self._prev = self._last if self._frame_size == (w, h) else None
        self._last, self._frame_size = small, (w, h)

    def proposals(self) -> list[CropBox]:
        """Square crops (frame pixels) around the largest moving regions of the last frame, largest
        first; empty on the first frame of a source or a still scene."""
        if self._prev is None or self._last is None:
            return []
        c = self.config
        # Differencing marks a walker's edges and limbs, not the whole body: close the gaps.
        moving = cv2.dilate((cv2.absdiff(self._last, self._prev) >= c.diff_threshold).astype(np.uint8), _CLOSE)
        n, _, stats, _ = cv2.connectedComponentsWithStats(moving, connectivity=8)
        th, tw = moving.shape
        scale = self._frame_size[0] / tw
        regions = [s for s in stats[1:n] if s[cv2.CC_STAT_AREA] >= c.min_area * tw * th]
        regions.sort(key=lambda s: -int(s[cv2.CC_STAT_AREA]))
        out = []
        for x, y, rw, rh, _ in regions[: c.max_proposals]:
            # Thumbnail pixel i covers frame [i * scale - 0.5, (i + 1) * scale - 0.5]; the crop pads
            # the region as training pads a person's joints.
            out.append(CropBox.from_xyxy(x * scale - 0.5, y * scale - 0.5, (x + rw) * scale - 0.5,
                                         (y + rh) * scale - 0.5, padding=1.25))
        return out
