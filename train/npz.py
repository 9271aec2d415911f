"""Opening an ``.npz`` the project wrote (a pack, a teacher file) with one clear error for anything else."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from engine.errors import InputError


def open_npz(path: Path, not_this: str) -> np.lib.npyio.NpzFile:
    """``np.load(path)`` without pickles, as an open archive; anything that is not an ``.npz`` (a
    plain ``.npy``, text, a broken zip) raises ``InputError(not_this)``.

    numpy's own message for a file that is not numpy's advises ``allow_pickle=True``, unsafe on a
    file of unknown origin, so it is never passed on.
    """
    try:
        loaded = np.load(Path(path), allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):
        raise InputError(not_this) from None
    if not isinstance(loaded, np.lib.npyio.NpzFile):  # a plain .npy array
        raise InputError(not_this)
    return loaded
