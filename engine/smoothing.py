"""Temporal smoothing of keypoints with the One Euro filter (Casiez, Roussel and Vogel, CHI 2012).

The One Euro filter is a low-pass filter whose cutoff rises with speed: still joints are smoothed
hard (no jitter) and fast joints lightly (little lag). Units: pixels and seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class OneEuroConfig:
    """Filter parameters.

    Attributes:
        min_cutoff: cutoff frequency (Hz) at zero speed; lower is smoother.
        beta: how fast the cutoff rises with speed (per pixel/second); higher means less lag.
        d_cutoff: cutoff (Hz) for the speed estimate itself.
        enabled: off for still images, where there is no time axis.
    """

    min_cutoff: float = 1.5
    beta: float = 0.01
    d_cutoff: float = 1.0
    enabled: bool = True


def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
    tau = 1.0 / (2.0 * math.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """Filters arrays of any fixed shape (e.g. (K, 2) keypoints) sample by sample."""

    def __init__(self, config: OneEuroConfig) -> None:
        self.config = config
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None
        self._t: float | None = None

    def reset(self) -> None:
        self._x = self._dx = self._t = None

    def permute(self, order: np.ndarray) -> None:
        """Reorder the filtered rows (e.g. the joints of (K, 2) keypoints): row i's history becomes
        row ``order[i]``'s, as when left and right labels trade places for the same points."""
        if self._x is not None and self._dx is not None:
            self._x, self._dx = self._x[order], self._dx[order]

    def __call__(self, x: np.ndarray, t: float) -> np.ndarray:
        """Filter sample ``x`` taken at time ``t`` (seconds); returns the filtered array (float64)."""
        x = np.asarray(x, dtype=np.float64)
        if not self.config.enabled:
            return x
        if self._x is None or self._t is None or self._dx is None or x.shape != self._x.shape:
            self._x, self._dx, self._t = x.copy(), np.zeros_like(x), t
            return x.copy()
        dt = t - self._t
        if dt <= 0:
            # Same or earlier timestamp (a repeated frame): nothing to integrate over.
            return self._x.copy()
        c = self.config
        dx = (x - self._x) / dt
        self._dx = self._dx + _alpha(c.d_cutoff, dt) * (dx - self._dx)
        cutoff = c.min_cutoff + c.beta * np.abs(self._dx)
        self._x = self._x + _alpha(cutoff, dt) * (x - self._x)
        self._t = t
        return self._x.copy()
