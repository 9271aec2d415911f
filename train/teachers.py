"""Teacher keypoints: two independent pose models' predictions on a dataset's images, mapped to LSP-14.

A teacher file (``../shared/teachers/<set>_teachers.npz``) holds, for every image ``names[i]``,
MoveNet Thunder's COCO-17 keypoints ``movenet`` (N, 17, 3: x, y, score) and BlazePose heavy's 33
landmarks ``blazepose`` (N, 33, 3: x, y, visibility; a row of NaN where it found nobody), in the
image's pixels. The project never runs the teachers; it reads their keypoints to clean labels
(:mod:`train.label_cleaning`) and as soft distillation targets (:func:`distillation_keypoints`).

Only the joints both teachers define like LSP carry over: shoulders, elbows, wrists, knees and
ankles. Their hips sit higher and wider than LSP's and they have no LSP neck or head top, so those
stay unset (NaN, confidence 0) and are never used as targets.

MoveNet's face (nose, eyes, ears), which LSP lacks, can also ride along as auxiliary training
targets (:func:`face_targets`): whether a face is seen, and where its left and right lie, is the
strongest cue to which way a person faces, the cue behind our model's mirrored people.
"""

from __future__ import annotations

import warnings
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from engine.errors import ConfigError, InputError
from engine.skeleton import COMMON_JOINTS, LSP14
from train.datasets.base import PoseSample
from train.label_cleaning import CleaningResult, find_mirrored, fix_joints, mirrored_joints, swap_mirrored
from train.npz import open_npz

# Source index of LSP joints 0-11 (R ankle ... L wrist); neck and head top have none.
MOVENET_TO_LSP = (16, 14, 12, 11, 13, 15, 10, 8, 6, 5, 7, 9)
BLAZEPOSE_TO_LSP = (28, 26, 24, 23, 25, 27, 16, 14, 12, 11, 13, 15)
# MoveNet's face points (COCO-17 0-4), their names and their left/right swap.
MOVENET_FACE = (0, 1, 2, 3, 4)
FACE_JOINTS = ("nose", "left eye", "right eye", "left ear", "right ear")
FACE_FLIP = (0, 2, 1, 4, 3)

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
        face: (N, 5, 3) float32 MoveNet's nose, left eye, right eye, left ear, right ear (x, y, score),
            or None (a file read before faces were kept).
    """

    names: tuple[str, ...]
    movenet: np.ndarray
    blazepose: np.ndarray
    face: np.ndarray | None = None

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
        return TeacherKeypoints(tuple(names), self.movenet[rows], self.blazepose[rows],
                                None if self.face is None else self.face[rows])


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
    not_teachers = f"{path} is not a teacher file (an .npz with movenet, blazepose and names)"
    try:
        with open_npz(path, not_teachers) as z:
            arrays = {k: z[k] for k in ("movenet", "blazepose", "names") if k in z.files}
    except ValueError:  # object arrays (numpy's message again advises allow_pickle) or a bad array header
        raise InputError(not_teachers) from None
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:  # a member cut short or corrupt
        raise InputError(f"{path} is a damaged teacher file ({exc.__class__.__name__})") from None
    missing = sorted({"movenet", "blazepose", "names"} - set(arrays))
    if missing:
        raise InputError(f"{path} is not a teacher file: it has no {', '.join(missing)} array")
    movenet, blazepose, names = arrays["movenet"], arrays["blazepose"], arrays["names"]
    n = len(names)
    for key, arr, k in (("movenet", movenet, 17), ("blazepose", blazepose, 33)):
        if arr.shape != (n, k, 3):
            raise InputError(f"{path}: {key} has shape {arr.shape}, expected ({n}, {k}, 3) for {n} names")
    movenet = movenet.astype(np.float32)
    return TeacherKeypoints(tuple(str(s) for s in names), _to_lsp(movenet, MOVENET_TO_LSP),
                            _to_lsp(blazepose.astype(np.float32), BLAZEPOSE_TO_LSP),
                            movenet[:, list(MOVENET_FACE)].copy())


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


def face_targets(teachers: TeacherKeypoints, labels: np.ndarray, min_score: float = 0.3,
                 agree: float = 0.25) -> np.ndarray:
    """MoveNet's face as auxiliary targets, (N, 5, 3) in image pixels: x, y, and the score.

    The score becomes the target's height (a face MoveNet does not see, as from behind, is a target
    of nothing there, which is the point), so it is kept whatever its value. A person whose labels
    MoveNet's body does not match (it ran on the whole image and may have read someone else, or
    nobody) gets no face target: score -1 on all five points. Matching: at least 4 of the shared
    joints both labelled and scored ``min_score`` or more lie within ``agree`` times the labels'
    box side of each other, whichever side is which (the labels may be mirrored).

    Args:
        labels: (N, 14, 3) the people's LSP labels in image pixels (third column: labelled).
    """
    if teachers.face is None:
        raise ConfigError("these teacher keypoints hold no face points (read them with load_teachers)")
    shared = list(SHARED_INDEX)
    perm = LSP14.flip_permutation()
    mine, theirs = labels[:, shared], teachers.movenet[:, shared]
    seen = np.where(labels[..., 2:] > 0, labels[..., :2], np.nan)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # nobody labelled: an all-NaN row, no match
        side = np.nanmax(np.nanmax(seen, axis=1) - np.nanmin(seen, axis=1), axis=1)  # (N,) labels' box side
    matches = []
    for other in (theirs, theirs[:, [shared.index(perm[i]) for i in shared]]):  # as is, and mirrored
        usable = (mine[..., 2] > 0) & (np.nan_to_num(other[..., 2]) >= min_score)
        dist = np.linalg.norm(mine[..., :2] - np.nan_to_num(other[..., :2], nan=np.inf), axis=-1)
        matches.append((usable & (dist <= agree * np.nan_to_num(side)[:, None])).sum(axis=1))
    found = np.maximum(*matches) >= 4
    out = np.nan_to_num(teachers.face).astype(np.float32)
    out[~found] = (0.0, 0.0, -1.0)
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
    faces = face_targets(chosen, labels, min_score)
    out = [replace(s, joints=j, teacher=t, face=f)
           for s, j, t, f, bad in zip(samples, labels, targets, faces, result.people, strict=True)
           if not (clean == "drop" and bad)]
    return out, result, moved
