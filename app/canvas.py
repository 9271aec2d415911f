"""The video canvas: the current frame with its pose overlay, scaled to fit, letterboxed."""

from __future__ import annotations

import numpy as np
from PyQt6.QtCore import QPointF, QRectF, QSize, Qt
from PyQt6.QtGui import QColor, QImage, QPainter, QPaintEvent
from PyQt6.QtWidgets import QSizePolicy, QWidget

from app.overlay import OverlayOptions, annotate
from engine.pipeline import PoseResult
from engine.skeleton import Skeleton


class VideoCanvas(QWidget):
    """Shows one BGR frame and its pose, drawn by ``engine.render.draw_pose`` (via :mod:`app.overlay`).

    The raw frame and pose are kept, so a changed threshold or ROI toggle redraws a paused frame.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(320, 180)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self._raw: np.ndarray | None = None
        self._result: PoseResult | None = None
        self._skeleton: Skeleton | None = None
        self._overlay = OverlayOptions()
        self._annotated: np.ndarray | None = None
        self._qimage: QImage | None = None
        self.placeholder = "No source"

    def sizeHint(self) -> QSize:
        return QSize(960, 540)

    def show_frame(self, image: np.ndarray, result: PoseResult | None, skeleton: Skeleton | None) -> None:
        """Display ``image`` (H, W, 3) uint8 BGR with ``result`` drawn over it."""
        self._raw, self._result, self._skeleton = image, result, skeleton
        self._render()

    @property
    def overlay(self) -> OverlayOptions:
        return self._overlay

    def set_overlay(self, overlay: OverlayOptions) -> None:
        self._overlay = overlay
        if self._raw is not None:
            self._render()

    def clear(self, placeholder: str = "No source") -> None:
        self._raw = self._result = self._annotated = self._qimage = None
        self.placeholder = placeholder
        self.update()

    def annotated_frame(self) -> np.ndarray | None:
        """The frame as drawn, at its own resolution (BGR)."""
        return self._annotated

    def frame_rect(self) -> QRectF:
        """Where the frame lands in widget coordinates (aspect kept, centred)."""
        if self._annotated is None:
            return QRectF()
        h, w = self._annotated.shape[:2]
        scale = min(self.width() / w, self.height() / h)
        return QRectF((self.width() - w * scale) / 2, (self.height() - h * scale) / 2, w * scale, h * scale)

    def map_from_frame(self, x: float, y: float) -> QPointF:
        """Widget position of frame pixel (x, y) (pixel centres on integers)."""
        r = self.frame_rect()
        h, w = self._annotated.shape[:2] if self._annotated is not None else (1, 1)
        return QPointF(r.x() + (x + 0.5) * r.width() / w, r.y() + (y + 0.5) * r.height() / h)

    def _render(self) -> None:
        assert self._raw is not None
        if self._result is not None and self._skeleton is not None:
            img = annotate(self._raw, self._result, self._skeleton, self._overlay)
        else:
            img = np.ascontiguousarray(self._raw)
        self._annotated = img
        h, w = img.shape[:2]
        # QImage wraps the array without a copy (the stubs only know bytes); self._annotated keeps
        # the buffer alive for as long as the QImage is used.
        self._qimage = QImage(img.data, w, h, img.strides[0], QImage.Format.Format_BGR888)  # type: ignore[call-overload]
        self.update()

    def paintEvent(self, event: QPaintEvent | None) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(24, 24, 24))
        if self._qimage is None:
            p.setPen(QColor(160, 160, 160))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self.placeholder)
        else:
            p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
            p.drawImage(self.frame_rect(), self._qimage)
        p.end()
