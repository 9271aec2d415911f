"""Teacher keypoints: two independent pose models' predictions on a dataset's images, mapped to LSP-14.

A teacher file (``../shared/teachers/<set>_teachers.npz``) holds, for every image ``names[i]``,
MoveNet Thunder's COCO-17 keypoints ``movenet`` (N, 17, 3: x, y, score) and BlazePose heavy's 33
landmarks ``blazepose`` (N, 33, 3: x, y, visibility; a row of NaN where it found nobody), in the
image's pixels. The project never runs the teachers; it reads their keypoints to clean labels
(:mod:`train.label_cleaning`) and as soft distillation targets (:func:`distillation_keypoints`).

Only the joints both teachers define like LSP carry over: shoulders, elbows, wrists, knees and
ankles. Their hips sit higher and wider than LSP's and they have no LSP neck or head top, so those
stay unset (NaN, confidence 0) and are never used as targets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from engine.errors import ConfigError, InputError
from engine.skeleton import COMMON_JOINTS, LSP14
from train.datasets.base import PoseSample
from train.label_cleaning import CleaningResult, find_mirrored, fix_joints, mirrored_joints, swap_mirrored

# Source index of LSP joints 0-11 (R ankle ... L wrist); neck and head top have none.
MOVENET_TO_LSP = (16, 14, 12, 11, 13, 15, 10, 8, 6, 5, 7, 9)
BLAZEPOSE_TO_LSP = (28, 26, 24, 23, 25, 27, 16, 14, 12, 11, 13, 15)

# LSP joints the teachers define as LSP does (no hips, neck or head top).
SHARED_JOINTS = COMMON_JOINTS
SHARED_INDEX = tuple(LSP14.index(n) for n in SHARED_JOINTS)


@dataclass(frozen=True)
class TeacherKeypoints:
    """Both teachers' keypoints for a list of images, in LSP-14 order and image pixels.

    Attributes:
        names: N image names (file names, e.g. ``im00001.jpg``).
        movenet: (N, 14, 3) float32 x, y, score; joints outside :data:`SHARED_INDEX` and hips are
            set from MoveNet where it has them (hips) or NaN with score 0 (neck, head top).
        blazepose: (N, 14, 3) float32 x, y, visibility; all NaN (visibility 0) where BlazePose found nobody.
    """

    names: tuple[str, ...]
    movenet: np.ndarray
    blazepose: np.ndarray

    def __len__(self) -> int:
        return len(self.names)

    def select(self, names: Sequence[str]) -> TeacherKeypoints:
        """The rows of ``names`` in that order; a name the file lacks is an :class:`InputError`."""
        index = {n: i for i, n in enumerate(self.names)}
        missing = [n for n in names if n not in index]
        if missing:
            raise InputError(f"the teacher file has no keypoints for {len(missing)} of {len(names)} images "
                             f"(first: {missing[0]}); it must come from the same dataset")
        rows = np.array([index[n] for n in names], dtype=np.int64)
        return TeacherKeypoints(tuple(names), self.movenet[rows], self.blazepose[rows])


def _to_lsp(points: np.ndarray, mapping: Sequence[int]) -> np.ndarray:
    out = np.full((len(points), LSP14.num_joints, 3), np.nan, dtype=np.float32)
    out[:, :len(mapping)] = points[:, list(mapping)]
    conf = out[..., 2]
    conf[~np.isfinite(conf)] = 0.0
    return out


def load_teachers(path: Path) -> TeacherKeypoints:
    """Read and check a teacher file; every problem is one :class:`InputError` line."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"teacher file {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in ("movenet", "blazepose", "names") if k in z.files}
    except (OSError, ValueError) as exc:
        raise InputError(f"{path} is not a teacher file (an .npz with movenet, blazepose and names): {exc}") from None
    missing = sorted({"movenet", "blazepose", "names"} - set(arrays))
    if missing:
        raise InputError(f"{path} is not a teacher file: it has no {', '.join(missing)} array")
    movenet, blazepose, names = arrays["movenet"], arrays["blazepose"], arrays["names"]
    n = len(names)
    for key, arr, k in (("movenet", movenet, 17), ("blazepose", blazepose, 33)):
        if arr.shape != (n, k, 3):
            raise InputError(f"{path}: {key} has shape {arr.shape}, expected ({n}, {k}, 3) for {n} names")
    return TeacherKeypoints(tuple(str(s) for s in names), _to_lsp(movenet.astype(np.float32), MOVENET_TO_LSP),
                            _to_lsp(blazepose.astype(np.float32), BLAZEPOSE_TO_LSP))


def distillation_keypoints(teachers: TeacherKeypoints, min_score: float = 0.3) -> np.ndarray:
    """MoveNet's keypoints as soft targets, (N, 14, 3) in image pixels, third column the weight.

    The weight is MoveNet's score on the joints it defines like LSP (:data:`SHARED_INDEX`) where the
    score reaches ``min_score`` (below that MoveNet is guessing), and 0 elsewhere: never hips, neck
    or head top. MoveNet alone, not an average with BlazePose: on clean MPII labels it generalises
    best (0.805 against 0.717), and the average does not beat it (teachers' README).
    """
    out = teachers.movenet.copy()
    weight = np.zeros(out.shape[:2], dtype=np.float32)
    shared = list(SHARED_INDEX)
    score = np.nan_to_num(out[:, shared, 2])
    weight[:, shared] = np.where(score >= min_score, score, 0.0)
    out[..., 2] = weight
    out[weight <= 0, :2] = 0.0
    return out


CLEAN_MODES = ("swap", "drop", "off")


def apply_teachers(samples: Sequence[PoseSample], teachers: TeacherKeypoints, clean: str = "swap",
                   min_score: float = 0.3, fix: bool = False) -> tuple[list[PoseSample], CleaningResult, int]:
    """``hgpose prepare``'s teacher step: clean mirrored labels and attach distillation targets.

    Args:
        samples: LSP-14 people, one per image (LSP/LSPET), matched to ``teachers`` by file name.
        clean: ``swap`` mirrored groups back, ``drop`` their people, or ``off`` (targets only).
        fix: also move single labels both teachers contradict onto them (:func:`fix_joints`).

    Returns:
        The samples (cleaned, each with ``teacher`` set), what the mirrored test found, and how
        many joints ``fix`` moved.
    """
    if clean not in CLEAN_MODES:
        raise ConfigError(f"label cleaning must be one of {', '.join(CLEAN_MODES)}, got {clean!r}")
    chosen = teachers.select([s.image_path.name for s in samples])
    labels = np.stack([s.joints for s in samples])
    result = find_mirrored(labels, chosen.movenet, chosen.blazepose)
    if clean == "swap":
        labels = swap_mirrored(labels, result)
    moved = 0
    if fix:
        # Joints of a mirrored group that was not swapped back (``off``) are left as labelled
        # (moving them one by one would un-mirror them behind the option's back), and those of
        # people about to be dropped are not counted.
        keep = mirrored_joints(result) if clean != "swap" else None
        labels, mask = fix_joints(labels, chosen.movenet, chosen.blazepose, keep=keep)
        moved = int(mask[~result.people].sum()) if clean == "drop" else int(mask.sum())
    targets = distillation_keypoints(chosen, min_score)
    out = [replace(s, joints=j, teacher=t) for s, j, t, bad in zip(samples, labels, targets, result.people, strict=True)
           if not (clean == "drop" and bad)]
    return out, result, moved
