"""Sports analysis: a live readout of the joint angles and a scrolling time plot of a chosen one."""

from __future__ import annotations

import math
from collections import deque

import numpy as np
import pyqtgraph as pg
from PyQt6.QtWidgets import QComboBox, QGridLayout, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from engine.skeleton import Skeleton

PLOT_SECONDS = 10.0  # the plot scrolls through this much source time
PLOT_POINTS = 1200  # cap on the history kept (40 s at 30 FPS)


def angle_names(skeleton: Skeleton) -> tuple[str, ...]:
    return tuple(a[0] for a in skeleton.angles)


def format_angle(value: float) -> str:
    return "–" if not math.isfinite(value) else f"{value:.0f}°"


class AngleReadout(QWidget):
    """Every angle of the skeleton in degrees; ``–`` where a joint is below the threshold."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._grid = QGridLayout(self)
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._grid.setHorizontalSpacing(12)
        self._values: dict[str, QLabel] = {}

    def set_skeleton(self, skeleton: Skeleton) -> None:
        names = angle_names(skeleton)
        if names == tuple(self._values):
            return
        while self._grid.count():
            item = self._grid.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.deleteLater()
        self._values = {}
        for i, name in enumerate(names):
            value = QLabel("–")
            value.setMinimumWidth(40)
            self._grid.addWidget(QLabel(name), i // 2, (i % 2) * 2)
            self._grid.addWidget(value, i // 2, (i % 2) * 2 + 1)
            self._values[name] = value

    def show_angles(self, angles: dict[str, float]) -> None:
        for name, label in self._values.items():
            label.setText(format_angle(angles.get(name, math.nan)))

    def value_text(self, name: str) -> str:
        return self._values[name].text()


class AnglePlot(QWidget):
    """The last :data:`PLOT_SECONDS` of one angle against source time (pyqtgraph)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._names: tuple[str, ...] = ()
        self.choice = QComboBox()
        self.choice.setToolTip("Angle shown in the plot")
        self.choice.currentTextChanged.connect(self._replot)
        self.plot = pg.PlotWidget(background="#1e1e1e")
        self.plot.setMinimumHeight(110)
        self.plot.setLabel("left", "°")
        self.plot.setLabel("bottom", "time", units="s")
        self.plot.setYRange(0, 180)
        self.plot.showGrid(x=True, y=True, alpha=0.25)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.curve = self.plot.plot(pen=pg.mkPen("#f0b429", width=2), connect="finite")
        self._t: deque[float] = deque(maxlen=PLOT_POINTS)
        self._history: dict[str, deque[float]] = {}
        pick = QVBoxLayout()
        pick.addWidget(QLabel("Angle"))
        pick.addWidget(self.choice)
        pick.addStretch(1)
        row = QHBoxLayout(self)
        row.setContentsMargins(6, 0, 6, 6)
        row.addLayout(pick)
        row.addWidget(self.plot, 1)

    def set_skeleton(self, skeleton: Skeleton) -> None:
        names = angle_names(skeleton)
        if names == self._names:
            return
        self._names = names
        self.choice.blockSignals(True)
        self.choice.clear()
        self.choice.addItems(names)
        self.choice.blockSignals(False)
        self.clear_history()

    def add(self, timestamp: float, angles: dict[str, float], jump: bool) -> None:
        """Append one frame; ``jump`` (seek, loop, new source) restarts the history."""
        if jump or (self._t and timestamp < self._t[-1]):
            self.clear_history()
        self._t.append(timestamp)
        for name in self._names:
            self._history[name].append(angles.get(name, math.nan))
        self._replot()

    def clear_history(self) -> None:
        self._t.clear()
        self._history = {name: deque(maxlen=PLOT_POINTS) for name in self._names}
        self.curve.setData([], [])

    def series(self) -> tuple[np.ndarray, np.ndarray]:
        """(times, degrees) currently plotted."""
        x, y = self.curve.getData()
        return (np.asarray(x if x is not None else []), np.asarray(y if y is not None else []))

    def _replot(self) -> None:
        name = self.choice.currentText()
        if not self._t or name not in self._history:
            self.curve.setData([], [])
            return
        t = np.fromiter(self._t, dtype=np.float64)
        y = np.fromiter(self._history[name], dtype=np.float64)
        keep = t >= t[-1] - PLOT_SECONDS
        self.curve.setData(t[keep], y[keep])
        self.plot.setXRange(max(0.0, t[-1] - PLOT_SECONDS), max(PLOT_SECONDS, t[-1]), padding=0)
