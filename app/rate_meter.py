"""Event rates over a sliding window: display FPS, inference FPS."""

from __future__ import annotations

from collections import deque


class RateMeter:
    """Events per second over the last ``window`` events.

    The rate is held, not decayed, while no events come (a paused video keeps its last reading).
    """

    def __init__(self, window: int = 30) -> None:
        self._times: deque[float] = deque(maxlen=window)
        self.count = 0
        self.first: float | None = None
        self.last: float | None = None

    def tick(self, now: float) -> None:
        self._times.append(now)
        self.count += 1
        self.first = now if self.first is None else self.first
        self.last = now

    @property
    def rate(self) -> float:
        if len(self._times) < 2 or self._times[-1] <= self._times[0]:
            return 0.0
        return (len(self._times) - 1) / (self._times[-1] - self._times[0])

    @property
    def overall_rate(self) -> float:
        """Mean rate from the first to the last event (for end-of-run summaries)."""
        if self.first is None or self.last is None or self.count < 2 or self.last <= self.first:
            return 0.0
        return (self.count - 1) / (self.last - self.first)

    def reset(self) -> None:
        self._times.clear()
        self.count, self.first, self.last = 0, None, None
