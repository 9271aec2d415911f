"""Atomic file output: write to a temporary sibling, then ``os.replace`` it into place.

A reader (or a user after Ctrl-C) sees either the previous complete file or the new complete
file, never a half-written one.

Temporary files are hidden siblings named ``.<stem>-XXXXXXXX<suffix>`` (``tempfile.mkstemp``'s
eight random characters). Each is ``flock``-ed by the process writing it for as long as it lives,
so a later run on the same output can tell a file left by a killed run (unlocked: removed by
:func:`remove_stale_temps`) from one another run is still writing (locked: kept).
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path

from engine.errors import OutputError

try:
    import fcntl
except ImportError:  # Windows: no flock; stale temporaries are then left for the user
    fcntl = None  # type: ignore[assignment]

# tempfile.mkstemp's random part: eight characters of this alphabet.
_RANDOM = "[a-z0-9_]{8}"


def ensure_writable_dir(directory: Path) -> Path:
    """Create ``directory`` if needed and check that files can be created in it."""
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise OutputError(f"output directory {directory} is a file, not a folder")
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
    if not existing.is_dir():
        raise OutputError(f"cannot write {target}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write {target}: {existing} is not a writable directory")
    return target


def default_file_mode() -> int:
    """The mode a plain ``open()`` would give a new file under the current umask."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


@contextlib.contextmanager
def prepared_output_dir(directory: Path) -> Iterator[Path]:
    """:func:`ensure_writable_dir` for the length of a command: the folders it had to create are
    removed again when the block fails while they are still empty, so an early failure (a bad
    model, an unknown backend) leaves no empty output folder behind."""
    directory = Path(directory)
    missing = [d for d in (directory, *directory.parents) if not d.exists()]  # deepest first
    ensure_writable_dir(directory)
    try:
        yield directory
    except BaseException:
        for d in missing:
            with contextlib.suppress(OSError):  # not empty (or not ours to remove): kept
                d.rmdir()
        raise


_CREATE_ATTEMPTS = 5


def _lock_own(fd: int, name: str) -> bool:
    """Lock a file just made by ``mkstemp``; False (and closed) when it vanished first.

    Between ``mkstemp`` and ``flock`` the new file is briefly unlocked, and another run's
    :func:`remove_stale_temps` may take it for a dead run's and delete it: the descriptor then
    points at an unlinked file, and writing on would lose the output.
    """
    assert fcntl is not None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # a fresh file: at most a sweep's brief hold to wait for
        if os.path.samestat(os.fstat(fd), os.stat(name)):
            return True
    except FileNotFoundError:
        pass
    except OSError as exc:  # no locks on this file system (ENOLCK), ...
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(name)
        raise OutputError(f"cannot lock {name} ({exc.strerror or exc})") from None
    os.close(fd)
    return False


class TempFile:
    """A hidden temporary file beside ``target``, locked while this object holds it open.

    Attributes:
        path: ``.<target stem>-XXXXXXXX<suffix>`` in ``target``'s folder.
        fd: the open descriptor that carries the lock (writers may open ``path`` again).
    """

    def __init__(self, target: Path, suffix: str | None = None) -> None:
        target = Path(target)
        for _ in range(_CREATE_ATTEMPTS):
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.stem}-",
                                            suffix=suffix if suffix is not None else target.suffix)
            except OSError as exc:
                raise OutputError(f"cannot write {target} ({exc.strerror or exc})") from None
            if fcntl is None or _lock_own(fd, name):
                self.path, self.fd = Path(name), fd
                return
        raise OutputError(f"cannot write {target}: its temporary files were removed as they were made")

    def release(self) -> None:
        """Close the descriptor (which drops the lock); the file stays. Idempotent."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def remove(self) -> None:
        """Delete the file, then release it. Idempotent."""
        with contextlib.suppress(OSError):
            self.path.unlink()
        self.release()


def remove_stale_temps(directory: Path, stem: str | re.Pattern[str]) -> list[Path]:
    """Delete the temporaries of ``<stem>.*`` outputs in ``directory`` that no live process holds
    (left by a killed run); returns what was removed. Without ``flock`` (Windows) nothing is.

    ``stem``: an output's stem, or a compiled pattern that stems must match whole (e.g. the app's
    recordings, each named for the moment it started); only its text is used, not its flags.
    """
    if fcntl is None or not Path(directory).is_dir():
        return []
    stem_regex = stem.pattern if isinstance(stem, re.Pattern) else re.escape(stem)
    pattern = re.compile(rf"\.(?:{stem_regex})-{_RANDOM}(\.[A-Za-z0-9]+)*")
    removed = []
    for path in Path(directory).iterdir():
        if not pattern.fullmatch(path.name) or not path.is_file():
            continue
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue  # another run is writing it
        else:
            with contextlib.suppress(OSError):
                path.unlink()
                removed.append(path)
        finally:
            os.close(fd)
    return removed


@contextlib.contextmanager
def atomic_path(target: Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success it replaces ``target``, else it is removed.

    ``suffix`` defaults to the target's, because some writers (OpenCV's video writer) choose the
    container from the file extension.
    """
    target = Path(target)
    temp = TempFile(target, suffix)
    try:
        yield temp.path
        publish(temp.path, target)
    except BaseException as exc:
        # BaseException: a Ctrl-C mid-write must not leave the temporary behind either.
        temp.remove()
        if isinstance(exc, OSError):  # disk full, target is a directory, ...: the user's to fix
            raise OutputError(f"cannot write {target} ({exc.strerror or exc})") from None
        raise
    finally:
        temp.release()


def publish(tmp: Path, target: Path) -> None:
    """Move a finished temporary file into place; raises ``OutputError`` when that fails."""
    try:
        # mkstemp creates 0600 files; give the result the permissions a plain open() would.
        os.chmod(tmp, default_file_mode())
        os.replace(tmp, target)
    except OSError as exc:
        raise OutputError(f"cannot write {target} ({exc.strerror or exc})") from None


@contextlib.contextmanager
def atomic_paths(*targets: Path) -> Iterator[list[Path]]:
    """:func:`atomic_path` for files that belong together (a JSON and its CSV): a temporary path
    beside each target; on success they replace their targets together (:func:`publish_together`),
    on failure all are removed and every target stays as it was."""
    paths = [Path(t) for t in targets]
    temps: list[TempFile] = []
    try:
        for target in paths:
            temps.append(TempFile(target))
        yield [t.path for t in temps]
        publish_together([(t.path, target) for t, target in zip(temps, paths, strict=True)])
    except BaseException as exc:
        for t in temps:
            t.remove()
        if isinstance(exc, OSError):
            raise OutputError(f"cannot write {exc.filename or paths[0]} ({exc.strerror or exc})") from None
        raise
    finally:
        for t in temps:
            t.release()


def publish_together(pairs: list[tuple[Path, Path]]) -> None:
    """Move finished temporaries into place, all or none: when one cannot be (its target is a
    folder, or immutable), those already moved are put back as they were, from hard links to the
    files they replaced, so a JSON never sits beside another run's CSV. Raises ``OutputError``,
    which also names any target that could not be put back (a file system without hard links)."""
    done: list[tuple[Path, bool, Path | None]] = []  # target, existed before, link to the old file
    try:
        for tmp, target in pairs:
            existed = os.path.lexists(target)
            done.append((target, existed, _link_old(target) if existed else None))
            publish(tmp, target)
    except OutputError as exc:
        _, _, link = done.pop()  # the one that failed was not replaced (os.replace is atomic)
        if link is not None:
            with contextlib.suppress(OSError):
                link.unlink()
        lost = _put_back(done)
        if lost:
            raise OutputError(f"{exc}; {', '.join(str(t) for t in lost)} already replaced and could not be "
                              "put back") from None
        raise
    for _, _, link in done:
        if link is not None:
            with contextlib.suppress(OSError):
                link.unlink()


def _link_old(target: Path) -> Path | None:
    """A hidden hard link to ``target``'s current file (named like a temporary, so a killed run's is
    swept by :func:`remove_stale_temps`), or None where none can be made."""
    for _ in range(_CREATE_ATTEMPTS):
        link = target.with_name(f".{target.stem}-{secrets.token_hex(4)}{target.suffix}.old")
        try:
            os.link(target, link)
            return link
        except FileExistsError:
            continue
        except OSError:
            return None
    return None


def _put_back(done: list[tuple[Path, bool, Path | None]]) -> list[Path]:
    """Undo published targets, newest first; returns those that could not be undone."""
    lost = []
    for target, existed, link in reversed(done):
        try:
            if link is not None:
                os.replace(link, target)
            elif not existed:
                target.unlink()
            else:
                lost.append(target)
        except OSError:
            lost.append(target)
    return lost


def atomic_write_text(target: Path, text: str) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")
