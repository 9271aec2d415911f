"""Reading MATLAB ``.mat`` annotation files with clear errors (scipy.io)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import scipy.io

from engine.errors import InputError


def read_mat(path: Path, **loadmat_options: Any) -> dict[str, Any]:
    """``scipy.io.loadmat`` that turns a missing or corrupt file into :class:`InputError`."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"annotation file {path} does not exist")
    try:
        return scipy.io.loadmat(str(path), **loadmat_options)
    except Exception as exc:  # scipy raises ValueError, OSError, MatReadError, zlib.error, ... on bad files
        raise InputError(f"cannot read {path}: not a readable MATLAB file ({exc})") from None
