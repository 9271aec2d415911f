"""``hgpose app [--source 0|PATH|URL] [--model M] [--backend B]``: the desktop app.

With no arguments it opens the bundled clip with the bundled model on the best backend. Bad input
(a missing or unreadable file, a bad model, an unknown backend) is reported in one line with a
non-zero exit before any window opens; a camera or stream that fails to open is reported in the app,
which keeps running (with ``--max-frames`` it exits 2 instead).

Automation: ``--max-frames N --screenshot PATH`` processes N frames, saves an image of the window
(PNG, JPEG or BMP, by PATH's suffix), prints a one-line summary (display and inference FPS, latency)
and exits 0; with ``QT_QPA_PLATFORM=offscreen`` it needs no display.

Ctrl-C or SIGTERM closes the app cleanly (threads stopped, a recording finished with the frames so
far) and exits 130 with one line; an automated run interrupted before its last frame writes no
screenshot.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import FrameType, TracebackType
from typing import TYPE_CHECKING

from engine.cli_options import (
    CommandParser,
    add_flip_option,
    add_model_options,
    add_runtime_options,
    add_zoom_option,
    fraction,
    non_negative_float,
    positive_int,
    spinning_flag,
)
from engine.cli_support import argv_or_default, run_command
from engine.errors import ConfigError

if TYPE_CHECKING:
    from PyQt6.QtCore import QTimer

    from app.main_window import MainWindow
    from app.options import AppOptions
    from engine.backends.base import Backend


def build_parser() -> argparse.ArgumentParser:
    p = CommandParser("hgpose app", __doc__)
    p.add_argument("--source", help="camera index (0), video file, image folder, image, or rtsp:// / http:// URL "
                                    "(default: the bundled clip)")
    add_model_options(p)
    p.add_argument("--camera-size", metavar="WxH", help="camera capture resolution, e.g. 1280x720")
    p.add_argument("--threshold", type=fraction, default=None, metavar="CONFIDENCE",
                   help="joint confidence (0-1) below which joints are hidden (default: the model's calibrated "
                        "threshold, for the flip test's setting)")
    p.add_argument("--speed", type=non_negative_float, default=1.0,
                   help="file playback speed; 0 = as fast as inference (1)")
    p.add_argument("--no-loop", action="store_true", help="stop at the end of a file instead of looping")
    p.add_argument("--out", type=Path, default=Path("hgpose-recordings"), metavar="DIR",
                   help="folder for recordings and screenshots (./hgpose-recordings)")
    p.add_argument("--output-dir", dest="out", type=Path, help=argparse.SUPPRESS)  # the former spelling
    p.add_argument("--max-frames", type=positive_int, metavar="N", help="process N frames, then exit (automation)")
    p.add_argument("--screenshot", type=Path, metavar="PATH",
                   help="with --max-frames: save an image of the window before exiting; the suffix "
                        "picks the format (.png, .jpg/.jpeg, .bmp)")
    p.add_argument("--window-size", metavar="WxH", help="initial window size, e.g. 1280x760")
    add_flip_option(p, "unsure", "a second inference only for frames that need it")
    add_zoom_option(p, False, "live video wants the frame rate")
    # Off: the app's capture and UI threads share the cores with inference, and spinning ORT
    # workers starve them (README, "Speed").
    add_runtime_options(p, spinning="off")
    return p


def _check_display(automated: bool) -> None:
    """Qt aborts the process without a display, or when its platform plugin cannot load; say what
    to do instead, in one line."""
    from app.qt_support import check_window_platform, forget_opencv_qt_paths

    forget_opencv_qt_paths()
    if sys.platform.startswith("linux") and not os.environ.get("QT_QPA_PLATFORM") \
            and not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        if automated:
            os.environ["QT_QPA_PLATFORM"] = "offscreen"  # nothing needs to be seen
        else:
            raise ConfigError("no display found; for a headless run use --max-frames N "
                              "(and QT_QPA_PLATFORM=offscreen)")
    check_window_platform()


def _check_screenshot(path: Path, max_frames: int | None) -> None:
    """Refuse, before the window opens, a screenshot that could not be taken or written."""
    from app.screenshot import screenshot_format
    from engine.atomic import check_output_file

    if max_frames is None:
        raise ConfigError("--screenshot is taken when an automated run ends: add --max-frames N")
    screenshot_format(path)  # ConfigError for a suffix that names no format
    check_output_file(path)  # OutputError: a folder in the way, no writable folder above it


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv_or_default(argv))

    def body() -> int:
        from app.options import DEFAULT_WINDOW_SIZE, AppOptions
        from app.readers import open_reader
        from app.source_spec import SourceSpec, parse_size, parse_source
        from engine.assets import default_clip_path, default_model_path
        from engine.backends.registry import open_backend

        try:
            camera_size = parse_size(args.camera_size) if args.camera_size else None
            window_size = parse_size(args.window_size) if args.window_size else DEFAULT_WINDOW_SIZE
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        if args.screenshot is not None:
            _check_screenshot(args.screenshot, args.max_frames)
        spec = parse_source(args.source, camera_size) if args.source else SourceSpec(
            "video", str(default_clip_path()))
        if not spec.live:
            open_reader(spec).close()  # a missing or corrupt file fails here, in one line
        model = args.model or default_model_path()
        _check_display(args.max_frames is not None)
        spinning = spinning_flag(args.spinning)
        backend = open_backend(model, args.backend, precision=args.precision, spinning=spinning)
        threshold = backend.metadata.threshold_for(args.flip == "on") if args.threshold is None else args.threshold
        options = AppOptions(spec, model, args.backend, threshold, args.speed, not args.no_loop,
                             args.out, args.max_frames, args.screenshot, window_size,
                             args.precision, spinning, args.flip, args.zoom_test)
        return run_app(options, backend)

    return run_command("app", body)


def install_exception_hook(window: MainWindow) -> None:
    """Report an exception that escapes a Qt slot or thread in the banner (traceback on stderr).

    Without a ``sys.excepthook`` of its own, PyQt calls ``qFatal`` on such an exception, which
    aborts the app and loses an unfinished recording. The report travels as a signal, so this is
    safe from any thread.
    """
    def hook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        traceback.print_exception(kind, exc, tb)
        window.internal_error.emit(f"internal error: {kind.__name__}: {exc}")

    sys.excepthook = hook
    threading.excepthook = lambda args: hook(args.exc_type, args.exc_value or args.exc_type(), args.exc_traceback)


SIGNAL_POLL_MS = 200  # how often Qt's loop hands control to Python, so signal handlers can run
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def stop_requests() -> Iterator[Callable[[], bool]]:
    """Record SIGINT and SIGTERM as a request to stop; yields a callable that answers whether one came.

    The event loop polls it (:func:`close_on_request`) and closes the app at that safe point. Unlike
    :func:`engine.interrupts.graceful_stop`, a second signal raises nothing: in Qt's event loop a
    KeyboardInterrupt surfaces in whichever slot happens to run (through ``sys.excepthook``, not to
    the caller), and during the close it would cut the shutdown short, leaving threads running (Qt
    then aborts the process) and a recording unfinished. The close is short, so later signals wait.
    """
    received: list[int] = []

    def request(signum: int, _frame: FrameType | None) -> None:
        received.append(signum)

    previous = {s: signal.signal(s, request) for s in _STOP_SIGNALS}
    try:
        yield lambda: bool(received)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def close_on_request(window: MainWindow, stop_requested: Callable[[], bool]) -> QTimer:
    """A running timer that closes ``window`` and leaves every event loop once a stop is requested.

    Python runs signal handlers only between bytecodes of the main thread, which sits in Qt's C++
    loop; the timer's call into Python lets them run. Leaving *every* loop matters when a modal
    dialog (a file chooser) runs its own: closing the window alone would leave the app waiting in it.
    """
    from PyQt6.QtCore import QTimer
    from PyQt6.QtWidgets import QApplication

    def poll() -> None:
        if stop_requested():
            timer.stop()
            window.close()  # stops the threads and finishes a recording (MainWindow.shutdown)
            QApplication.exit()

    timer = QTimer()
    timer.timeout.connect(poll)
    timer.start(SIGNAL_POLL_MS)
    return timer


def interruption_note(window: MainWindow) -> str:
    """What an interrupted automated run did not get to do, for the ``interrupted`` line."""
    options = window.options
    if options.max_frames is None:
        return ""
    note = f"{window.worker.processed} of {options.max_frames} frames processed"
    if options.screenshot is not None:
        note += f"; no screenshot was written to {options.screenshot}"
    return note


def run_app(options: AppOptions, backend: Backend) -> int:
    """Start Qt, show the window and run until it closes; returns the exit code.

    Raises the typed error of an automated run that failed (e.g. its camera did not open), and
    KeyboardInterrupt (exit 130) when SIGINT or SIGTERM closed the app before its work was done.
    """
    from PyQt6.QtWidgets import QApplication

    from app.main_window import MainWindow
    from app.qt_support import quiet_platform_noise

    quiet_platform_noise()
    qt_app = QApplication.instance() or QApplication(["hgpose app"])
    qt_app.setApplicationName("hgpose")
    with stop_requests() as stop_requested:
        window = MainWindow(options, backend)
        install_exception_hook(window)
        ticker = close_on_request(window, stop_requested)
        window.show()
        qt_app.exec()
        ticker.stop()
        window.shutdown()
    if window.automation_error is not None:
        raise window.automation_error
    # An automated run that had already finished (screenshot and summary written) was not cut short.
    if stop_requested() and not window.automation_finished:
        raise KeyboardInterrupt(interruption_note(window))
    return 0
