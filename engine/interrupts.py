"""Deferring Ctrl-C (SIGINT) and SIGTERM across short critical sections.

Python raises KeyboardInterrupt between any two bytecodes, so "encode a video frame, then count it"
can be cut in half. Inside :func:`deferred_interrupts` the signal is only recorded, and raised as
KeyboardInterrupt when the section ends, so paired outputs stay in step.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def deferred_interrupts() -> Iterator[None]:
    """Hold SIGINT/SIGTERM until the block ends, then raise KeyboardInterrupt if one arrived.

    Only the main thread can install signal handlers; elsewhere this is a no-op (signals are
    delivered to the main thread anyway).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def record(signum: int, _frame: FrameType | None) -> None:
        received.append(signum)

    previous = {s: signal.signal(s, record) for s in _SIGNALS}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if received:
        raise KeyboardInterrupt
