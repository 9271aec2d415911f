"""One training run per output directory.

Two runs writing the same ``out_dir`` would overwrite each other's ``last.pt`` and ``best.pt``, and
a resume would then continue a mixture of both. The lock is an advisory ``flock`` on
``out_dir/.lock``, held by the main process for the whole run: the kernel releases it when the
process ends, however it ends, so a crashed run never leaves a stale lock behind.

A run removes the lock file when it ends, and ``out_dir`` too when it created it and left it
empty (a config that fails before the first checkpoint leaves nothing behind). A run that opened
the file just before it was removed sees, once it holds the lock, that the name now points
elsewhere (or nowhere) and tries again, so two runs never both hold a lock.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from engine.errors import ConfigError, HgposeError
from train import distributed as dist

try:
    import fcntl
except ImportError:  # Windows: no flock; runs there are not guarded
    fcntl = None  # type: ignore[assignment]

LOCK_NAME = ".lock"


@contextlib.contextmanager
def run_dir_lock(out_dir: Path, ctx: dist.DistContext) -> Iterator[None]:
    """Hold ``out_dir``'s lock on the main rank; every rank raises ``ConfigError`` when another
    run holds it (the verdict is shared, so no rank is left waiting in a collective)."""
    handle = None
    error: HgposeError | None = None
    missing = [d for d in (out_dir, *out_dir.parents) if not d.exists()]  # deepest first
    if ctx.is_main and fcntl is not None:
        handle = _acquire(out_dir / LOCK_NAME)
        if handle is None:
            _remove_empty(missing)
            error = ConfigError(f"another training run is using {out_dir}; wait for it to finish or stop it, "
                                "or choose another out_dir")
    error = dist.broadcast_object(error, ctx)
    if error is not None:
        raise error
    try:
        yield
    finally:
        if handle is not None:
            with contextlib.suppress(OSError):
                os.unlink(out_dir / LOCK_NAME)  # while still held: see the module docstring
            handle.close()  # closing releases the flock
            _remove_empty(missing)


def _acquire(path: Path) -> IO[str] | None:
    """The open, flock-ed lock file, or None when another run holds it."""
    assert fcntl is not None
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        handle = open(path, "a+")  # noqa: SIM115 - held open for the whole run
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return None
        try:
            same = os.stat(path).st_ino == os.fstat(handle.fileno()).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return handle
        handle.close()  # its run ended and removed the file meanwhile: lock the current one


def _remove_empty(created: list[Path]) -> None:
    """Remove the folders this run created, deepest first, where they are still empty."""
    for d in created:
        with contextlib.suppress(OSError):
            d.rmdir()
