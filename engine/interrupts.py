"""Deferring Ctrl-C (SIGINT) and SIGTERM across short critical sections, or until a safe point.

Python raises KeyboardInterrupt between any two bytecodes, so "encode a video frame, then count it"
can be cut in half. Inside :func:`deferred_interrupts` the signal is only recorded, and raised as
KeyboardInterrupt when the section ends, so paired outputs stay in step.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
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


@contextlib.contextmanager
def graceful_stop(notice: Callable[[], None] | None = None) -> Iterator[Callable[[], bool]]:
    """Turn the first SIGINT/SIGTERM into a stop request that a loop polls at a safe point.

    Yields a callable that answers whether a stop was requested. The first signal only sets it
    (and calls ``notice``, e.g. to print "stopping after this step"); a second one raises
    KeyboardInterrupt at once, for a user who will not wait. Outside the main thread no handler
    can be installed, and the callable always answers False.
    """
    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return
    received: list[int] = []
    previous = {s: signal.getsignal(s) for s in _SIGNALS}

    def request(signum: int, _frame: FrameType | None) -> None:
        received.append(signum)
        for s in _SIGNALS:  # the next one interrupts
            signal.signal(s, signal.default_int_handler)
        if notice is not None:
            notice()

    for s in _SIGNALS:
        signal.signal(s, request)
    try:
        yield lambda: bool(received)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
