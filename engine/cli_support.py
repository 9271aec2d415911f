"""Shared command-line plumbing: the one place typed errors become messages and exit codes."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence

from engine.errors import HgposeError

EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: what a shell reports for a tool whose reader went away


def quiet_native_logging() -> None:
    """Keep FFmpeg's and OpenCV's own log lines off the terminal of a command.

    FFmpeg prints ``moov atom not found`` or H.264 NAL errors, and OpenCV ``[ WARN ]`` lines, straight
    to stderr, ahead of the one line in which the command says the same in words a user can act
    on. Commands only: a library caller keeps OpenCV's defaults, and a user who sets
    ``OPENCV_FFMPEG_LOGLEVEL`` or ``OPENCV_LOG_LEVEL`` (e.g. to debug a camera) keeps that choice.
    """
    # AV_LOG_QUIET; OpenCV reads it when its FFmpeg backend first starts, so before any video opens.
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    if "OPENCV_LOG_LEVEL" not in os.environ:
        import cv2

        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)


def run_command(name: str, body: Callable[[], int]) -> int:
    """Run a command body; a user error prints ``hgpose NAME: error: ...`` and returns its exit code.

    Ctrl-C (and SIGTERM, where a command maps it to KeyboardInterrupt) prints ``hgpose NAME:
    interrupted`` once, followed by the interrupt's own text if the body re-raised it with one
    (``raise KeyboardInterrupt("the frames so far are in out/x.json")``).

    A reader of stdout that goes away (``hgpose compare A B | head -3``) is handled once, where
    every command starts: :func:`engine.cli.main` (:func:`stdout_reader_left`).
    """
    quiet_native_logging()
    try:
        return body()
    except HgposeError as exc:
        print(f"hgpose {name}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt as exc:
        detail = f"; {exc}" if str(exc) else ""
        print(f"hgpose {name}: interrupted{detail}", file=sys.stderr)
        return EXIT_INTERRUPTED


def stdout_reader_left() -> int:
    """Call while handling a BrokenPipeError: when stdout's reader went away, silence stdout and
    return ``EXIT_BROKEN_PIPE``; re-raise a broken pipe of anything else (a subprocess's, a
    worker's), a real failure not ours to hide."""
    if not _stdout_reader_gone():
        raise  # the BrokenPipeError being handled
    # Python's documented recipe: point stdout at devnull, or the interpreter's last flush at
    # exit fails on the same closed pipe and prints the traceback after all.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return EXIT_BROKEN_PIPE


def _stdout_reader_gone() -> bool:
    """Whether stdout is a pipe (or socket) whose reading end has closed (POSIX ``poll``: POLLERR)."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # captured, a StringIO, None under pythonw
        return False
    import select

    if not hasattr(select, "poll"):  # Windows: no poll; a broken pipe there is taken for stdout's
        return True
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))


def argv_or_default(argv: Sequence[str] | None) -> list[str]:
    return list(sys.argv[1:] if argv is None else argv)

