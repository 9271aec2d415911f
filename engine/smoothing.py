"""Temporal smoothing of keypoints with the One Euro filter (Casiez, Roussel and Vogel, CHI 2012).

The One Euro filter is a low-pass filter whose cutoff rises with speed: still joints are smoothed
hard (no jitter) and fast joints lightly (little lag). Positions are in pixels and times in
seconds; speeds are measured in *scales* a second (pixels divided by the caller's ``scale``, the
pipeline's crop side), as MediaPipe normalises by the object's size: a pixel speed would smooth a
far-away person (few pixels a second) hard and a close one (many) hardly at all.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from engine.errors import ConfigError


@dataclass(frozen=True)
class OneEuroConfig:
    """Filter parameters.

    Attributes:
        min_cutoff: cutoff frequency (Hz) at zero speed; lower is smoother.
        beta: how fast the cutoff rises with speed (Hz per scale/second); higher means less lag.
        d_cutoff: cutoff (Hz) for the speed estimate itself.
        enabled: off for still images, where there is no time axis.

    The defaults are tuned on the reference clips (`hgpose compare`): a walking or running person
    moves a good part of their crop a second, so the cutoff is high while they move (little lag)
    and low while a joint holds still. Applied to the same unsmoothed poses, the earlier pixel-speed
    defaults (1.5 Hz, 0.01 per px/s) cost 3 to 11 points of PCK on the five reference clips and
    moved 6 % of a walker's joints by more than 0.2 torso (lag); these cost 0.4 to 4 points and
    0.3 %. The price: they remove 8-34 % of the frame-to-frame jitter (acceleration) where the old
    ones removed 42-60 %.
    """

    min_cutoff: float = 0.1
    beta: float = 80.0
    d_cutoff: float = 1.0
    enabled: bool = True

    def __post_init__(self) -> None:
        if not (self.min_cutoff > 0 and self.d_cutoff > 0 and self.beta >= 0):
            raise ConfigError(f"One Euro cutoffs must be > 0 and beta >= 0, got min_cutoff {self.min_cutoff}, "
                              f"beta {self.beta}, d_cutoff {self.d_cutoff}")


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

    def __call__(self, x: np.ndarray, t: float, scale: float = 1.0) -> np.ndarray:
        """Filter sample ``x`` taken at time ``t`` (seconds); returns the filtered array (float64).

        ``scale``: the size speeds are measured in (positive; e.g. the crop side in pixels, so
        that ``beta`` means the same for a near and a far person).
        """
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
        cutoff = c.min_cutoff + c.beta * np.abs(self._dx) / max(scale, 1e-9)
        self._x = self._x + _alpha(cutoff, dt) * (x - self._x)
        self._t = t
        return self._x.copy()


@dataclass(frozen=True)
class ScoreSmoothing:
    """Time constants (seconds) of the joint-confidence filter: a score rises towards a higher
    reading with ``rise`` and falls towards a lower one with ``fall`` (0: at once).

    Measured on the five reference clips (`hgpose compare`, the bundled model): a joint's drawn
    state changed on 22 % of frames, so skeletons flickered, and a joint seen clearly in one frame
    was often dropped in the next where it was still right. Rise 0.02 s and fall 0.05 s (at 60 fps
    a reading rises 56 % of the way in one frame and falls 28 %) cut those changes to 10 % and drew
    16 % more correct joints (PCK drawn 0.398 -> 0.461, frames found 0.41 -> 0.54) with the same
    share of drawn joints right (0.813 -> 0.808). Lowering the threshold instead to draw as many
    (0.9 x) draws more wrong ones (0.785 right) and keeps the flicker (22 %).

    Tried and not kept (stage 16, `hgpose track-eval`, 8 runs): a slower fall (0.2 or 0.4 s) for a
    joint read within 5 % of its crop of where it was a frame earlier, so that a joint that stays put
    while its score sags stays drawn. It traded exactly as a lower threshold does: on the two walkers
    found 0.791 -> 0.840 / 0.865 and drawn right 0.834 -> 0.820 / 0.814, where a threshold of 0.38
    (calibrated: 0.44) gives 0.882 and 0.813; on `cam01` 0.807 -> 0.866 / 0.891, drawn right 0.934 ->
    0.913 / 0.904, the threshold 0.866 and 0.913. A joint that sits still is no more often right.
    """

    rise: float = 0.02
    fall: float = 0.05

    def __post_init__(self) -> None:
        if not (self.rise >= 0 and self.fall >= 0):
            raise ConfigError(f"score smoothing time constants must be >= 0, got {self.rise} and {self.fall}")


class ScoreFilter:
    """First-order filter of confidences (K,) with separate rise and fall time constants."""

    def __init__(self, config: ScoreSmoothing) -> None:
        self.config = config
        self._s: np.ndarray | None = None
        self._t: float | None = None

    def reset(self) -> None:
        self._s = self._t = None

    def permute(self, order: np.ndarray) -> None:
        """Reorder the rows, as :meth:`OneEuroFilter.permute`."""
        if self._s is not None:
            self._s = self._s[order]

    def __call__(self, scores: np.ndarray, t: float) -> np.ndarray:
        """Filter the scores (K,) read at time ``t`` (seconds); returns float64 (K,)."""
        s = np.asarray(scores, dtype=np.float64)
        if self._s is None or self._t is None or s.shape != self._s.shape:
            self._s, self._t = s.copy(), t
            return s.copy()
        dt = t - self._t
        if dt <= 0:
            return self._s.copy()
        c = self.config

        def gain(tau: float) -> float:
            return 1.0 if tau <= 0 else 1.0 - math.exp(-dt / tau)

        step = np.where(s > self._s, gain(c.rise), gain(c.fall))
        self._s = self._s + step * (s - self._s)
        self._t = t
        return self._s.copy()
