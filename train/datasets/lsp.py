"""LSP and LSPET: ``images/imNNNNN.jpg`` plus ``joints.mat``.

The original LSP release stores ``joints`` as (3, 14, N) with a 0/1 *occluded* flag; LSPET stores
(14, 3, N) with a *visible* flag. In LSPET, joints flagged 0 carry no usable coordinates, so they
are treated as unlabelled. In LSP every joint is annotated, so all are labelled.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.errors import ConfigError, InputError
from train.datasets.base import PoseSample, person_box
from train.datasets.matfile import read_mat

NUM_JOINTS = 14


def load_lsp_joints(mat_path: Path) -> np.ndarray:
    """Read ``joints.mat`` in either layout; returns (N, 14, 3) float32: x, y, labelled flag."""
    mat = read_mat(mat_path)
    if "joints" not in mat:
        raise InputError(f"{mat_path} has no 'joints' variable")
    try:
        j = np.asarray(mat["joints"], dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{mat_path}: 'joints' is not a numeric array") from None
    if j.ndim != 3:
        raise InputError(f"{mat_path}: 'joints' must be 3-D, got shape {j.shape}")
    if j.shape[0] == 14 and j.shape[1] == 3:  # LSPET: (14, 3, N), third row = visible
        out = j.transpose(2, 0, 1).copy()
        labelled = out[..., 2] > 0.5
    elif j.shape[0] == 3 and j.shape[1] == 14:  # LSP: (3, 14, N), third row = occluded
        out = j.transpose(2, 1, 0).copy()
        labelled = np.isfinite(out[..., 0]) & np.isfinite(out[..., 1])
    else:
        raise InputError(f"{mat_path}: 'joints' shape {j.shape} is neither (14, 3, N) nor (3, 14, N)")
    out[..., 2] = labelled
    # Coordinates of unlabelled joints are junk (often 0 or negative); zero them for safety.
    out[~labelled, :2] = 0.0
    return out.astype(np.float32)


def load_lsp(root: Path, start: int = 1, stop: int | None = None) -> list[PoseSample]:
    """Samples ``im{start:05d}`` .. ``im{stop:05d}`` (1-based, inclusive) of an LSP-layout folder.

    A range past the folder's last image is a ``ConfigError``: cut short quietly, ``9001:20000``
    would be scored or packed as ``9001:10000`` under the name of the range asked for."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"dataset root {root} does not exist or is not a folder")
    mat = root / "joints.mat"
    if not mat.is_file():
        raise InputError(f"{root} is not an LSP folder: {mat.name} is missing")
    joints = load_lsp_joints(mat)
    n = len(joints)
    if stop is not None and stop > n:
        raise ConfigError(f"image range {start}:{stop} goes past the dataset's last image: {root} has {n} images "
                          f"(1:{n})")
    stop = n if stop is None else stop
    samples = []
    for i in range(start, stop + 1):
        img = root / "images" / f"im{i:05d}.jpg"
        if not img.is_file():
            img = root / "images" / f"im{i:04d}.jpg"  # the original LSP uses four digits
        if not img.is_file():
            raise InputError(f"{root}: image {i} is missing (expected images/im{i:05d}.jpg)")
        jt = joints[i - 1]
        if not (jt[:, 2] > 0).any():
            continue  # nothing to learn from or evaluate on
        samples.append(PoseSample(img, jt, person_box(jt)))
    return samples


def parse_image_range(text: str) -> tuple[int, int]:
    """``"START:STOP"`` (1-based image numbers, inclusive) -> (start, stop)."""
    a, sep, b = text.partition(":")
    try:
        start, stop = int(a), int(b)
    except ValueError:
        raise ConfigError(f"image range {text!r} must look like START:STOP, e.g. 9001:10000") from None
    if not sep or start < 1 or stop < start:
        raise ConfigError(f"image range {text!r} must be START:STOP with 1 <= START <= STOP")
    return start, stop
