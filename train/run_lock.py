"""One training run per output directory.

Two runs writing the same ``out_dir`` would overwrite each other's ``last.pt`` and ``best.pt``, and
a resume would then continue a mixture of both. The lock is an advisory ``flock`` on
``out_dir/.lock``, held by the main process for the whole run: the kernel releases it when the
process ends, however it ends, so a crashed run never leaves a stale lock behind.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

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
    if ctx.is_main and fcntl is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        handle = open(out_dir / LOCK_NAME, "a+")  # noqa: SIM115 - held open for the whole run
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            handle = None
            error = ConfigError(f"another training run is using {out_dir}; wait for it to finish or stop it, "
                                "or choose another out_dir")
    error = dist.broadcast_object(error, ctx)
    if error is not None:
        raise error
    try:
        yield
    finally:
        if handle is not None:
            handle.close()  # closing releases the flock
