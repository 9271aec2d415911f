"""A one-frame hand-over between two threads that either waits (files) or overwrites (live sources).

A file can afford to wait for inference, so every frame is processed. A camera cannot: a frame that
waits goes stale, so the newest frame replaces an untaken one and the replacement is counted as a drop.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class LatestSlot(Generic[T]):
    """Holds at most one item; thread-safe."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: T | None = None
        self._closed = False
        self.dropped = 0
        self.taken = 0  # items handed out, ever (not reset with the source)

    def put(self, item: T, wait: bool, abort: Callable[[], bool] = lambda: False) -> bool:
        """Offer ``item``.

        With ``wait`` the call blocks until the previous item is taken, the slot is closed or
        ``abort()`` turns true (polled, so a seek or stop does not wait on a slow consumer); it then
        returns whether the item was placed. Without ``wait`` an untaken item is replaced and counted
        in :attr:`dropped`.
        """
        with self._cond:
            if wait:
                while self._item is not None and not self._closed and not abort():
                    self._cond.wait(0.05)
                if self._closed or self._item is not None:
                    return False
            elif self._item is not None:
                self.dropped += 1
            self._item = item
            self._cond.notify_all()
            return True

    def take(self, timeout: float) -> T | None:
        """The item, or None after ``timeout`` seconds or once closed."""
        with self._cond:
            if self._item is None and not self._closed:
                self._cond.wait(timeout)
            item, self._item = self._item, None
            self.taken += item is not None
            self._cond.notify_all()
            return item

    def pending(self) -> bool:
        """Whether an item waits to be taken."""
        with self._cond:
            return self._item is not None

    def clear(self) -> None:
        """Discard an untaken item (it belongs to a source or position that is gone)."""
        with self._cond:
            self._item = None
            self._cond.notify_all()

    def reset(self) -> None:
        """Reopen for a new source: empty, not closed, no drops counted."""
        with self._cond:
            self._item, self._closed, self.dropped = None, False, 0
            self._cond.notify_all()

    def close(self) -> None:
        """Wake every waiter for good (shutdown)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
