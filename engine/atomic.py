"""Atomic file output: write to a temporary sibling, then ``os.replace`` it into place.

A reader (or a user after Ctrl-C) sees either the previous complete file or the new complete
file, never a half-written one.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from engine.errors import OutputError


def ensure_writable_dir(directory: Path) -> Path:
    """Create ``directory`` if needed and check that files can be created in it."""
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".hgpose-probe-"):
            pass
    except OSError as exc:
        raise OutputError(f"output directory {directory} is not writable ({exc.strerror or exc})") from None
    return directory


def check_output_file(target: Path) -> Path:
    """Refuse, before any work, an output file that could not be written; creates nothing.

    The nearest existing folder on the way to ``target`` must be a writable folder (missing ones are
    created when the file is written), and ``target`` itself must not be a folder.
    """
    target = Path(target)
    if target.is_dir():
        raise OutputError(f"cannot write {target}: it is a directory")
    existing = next(p for p in target.absolute().parents if p.exists())
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write {target}: {existing} is not a writable directory")
    return target


def default_file_mode() -> int:
    """The mode a plain ``open()`` would give a new file under the current umask."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


@contextlib.contextmanager
def atomic_path(target: Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success it replaces ``target``, else it is removed.

    ``suffix`` defaults to the target's, because some writers (OpenCV's video writer) choose the
    container from the file extension.
    """
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.stem}-",
                                        suffix=suffix if suffix is not None else target.suffix)
    except OSError as exc:
        raise OutputError(f"cannot write {target} ({exc.strerror or exc})") from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        publish(tmp, target)
    except BaseException as exc:
        # BaseException: a Ctrl-C mid-write must not leave the temporary behind either.
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(exc, OSError):  # disk full, target is a directory, ...: the user's to fix
            raise OutputError(f"cannot write {target} ({exc.strerror or exc})") from None
        raise


def publish(tmp: Path, target: Path) -> None:
    """Move a finished temporary file into place; raises ``OutputError`` when that fails."""
    try:
        # mkstemp creates 0600 files; give the result the permissions a plain open() would.
        os.chmod(tmp, default_file_mode())
        os.replace(tmp, target)
    except OSError as exc:
        raise OutputError(f"cannot write {target} ({exc.strerror or exc})") from None


def atomic_write_text(target: Path, text: str) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")
