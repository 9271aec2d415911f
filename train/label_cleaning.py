"""Teacher-assisted label cleaning: find people whose left/right labels are mirrored.

LSPET's labels are crowd clicks, and about 4-5 % of its people have left and right swapped. Two
independent pose models (:mod:`train.teachers`) know left from right far more reliably. A group of
a person's joints (arms, or legs with the hips) is called mirrored when

- both teachers saw the person and agree with each other on that group (so they are not both
  confused by the same ambiguous pose, and neither mirrors the other), and
- for each teacher the swapped labels fit far better than the labels as given: the mean distance
  from the teacher drops below ``ratio`` of what it was, and by at least ``margin`` torso.

Distances are in torso units (‖L shoulder − R hip‖ of the labels, else 1.6 × shoulder width, else
the person box / 2.5) over the joints both teachers define like LSP (no hips, neck, head top). A
mirrored group is swapped back (``swap``) or its person dropped from training (``drop``).

Besides whole mirrored groups, single clicks go astray: where both teachers see a joint and agree
on it within 0.1 torso, about 11 % of LSPET's labelled limb joints lie more than 0.2 torso from
them (median 0.05; swaps included). :func:`fix_joints` moves such a label onto the teachers' mean.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.skeleton import LSP14

# The groups decided on separately: crowd workers mirror whole people, but also just the legs
# (crossed in a stride) or just the arms. Each group lists the joints that vote and those swapped.
GROUP_NAMES = ("arms", "legs")
_VOTE = (("R wrist", "R elbow", "R shoulder", "L shoulder", "L elbow", "L wrist"),
         ("R ankle", "R knee", "L knee", "L ankle"))
SWAP_GROUPS = (_VOTE[0], (*_VOTE[1], "R hip", "L hip"))  # the joints swapped, per group


@dataclass(frozen=True)
class CleaningConfig:
    """Thresholds of the mirrored-label test (distances in torso units)."""

    min_confidence: float = 0.3  # teacher score / visibility for a joint to vote
    teachers_agree: float = 0.25  # the teachers' mean distance from each other on the group
    ratio: float = 0.5  # swapped labels must be this much closer to each teacher ...
    margin: float = 0.15  # ... and closer by at least this much
    min_joints: int = 2  # voting joints needed in a group


@dataclass(frozen=True)
class CleaningResult:
    """Per person (N) and group (arms, legs): whether the labels are mirrored."""

    mirrored: np.ndarray  # (N, 2) bool

    @property
    def people(self) -> np.ndarray:
        """(N,) bool: people with any group mirrored."""
        return np.asarray(self.mirrored.any(axis=1))

    def summary(self) -> str:
        arms, legs = self.mirrored[:, 0], self.mirrored[:, 1]
        return (f"{int(self.people.sum())} of {len(self.mirrored)} people mirrored by the labels "
                f"({int((arms & legs).sum())} whole, {int((arms & ~legs).sum())} arms only, "
                f"{int((legs & ~arms).sum())} legs only)")


def torso_lengths(labels: np.ndarray) -> np.ndarray:
    """(N,) torso length in pixels of labels (N, 14, 3): ‖L shoulder − R hip‖, with fallbacks."""
    lab = labels[..., 2] > 0
    ls, rh, rs = LSP14.index("L shoulder"), LSP14.index("R hip"), LSP14.index("R shoulder")
    torso = np.linalg.norm(labels[:, ls, :2] - labels[:, rh, :2], axis=1)
    shoulders = 1.6 * np.linalg.norm(labels[:, ls, :2] - labels[:, rs, :2], axis=1)
    lo = np.where(lab[..., None], labels[..., :2], np.inf).min(axis=1)
    hi = np.where(lab[..., None], labels[..., :2], -np.inf).max(axis=1)
    with np.errstate(invalid="ignore"):
        extent = (hi - lo).max(axis=1) / 2.5
    out = np.where(lab[:, ls] & lab[:, rh], torso, np.where(lab[:, ls] & lab[:, rs], shoulders, extent))
    return np.where(np.isfinite(out) & (out > 1e-3), out, np.nan)


def _mean_distance(a: np.ndarray, b: np.ndarray, use: np.ndarray) -> np.ndarray:
    """Mean over joints where ``use`` (N, J) of ‖a − b‖ (N, J, 2); NaN where nothing is used."""
    d = np.linalg.norm(a - b, axis=2)
    n = use.sum(axis=1)
    return np.where(n > 0, np.where(use, d, 0.0).sum(axis=1) / np.maximum(n, 1), np.nan)


def find_mirrored(labels: np.ndarray, movenet: np.ndarray, blazepose: np.ndarray,
                  config: CleaningConfig = CleaningConfig()) -> CleaningResult:
    """Which groups of which people have mirrored labels.

    Args:
        labels: (N, 14, 3) LSP-14 labels in image pixels, third column > 0 where labelled.
        movenet, blazepose: (N, 14, 3) teacher keypoints in the same pixels (:mod:`train.teachers`),
            third column the teacher's confidence (0 or NaN where absent).
    """
    perm = np.array(LSP14.flip_permutation())
    swapped = labels[:, perm]
    torso = torso_lengths(labels)
    mirrored = np.zeros((len(labels), len(GROUP_NAMES)), dtype=bool)
    for g, names in enumerate(_VOTE):
        idx = [LSP14.index(n) for n in names]
        pidx = perm[idx]
        # A joint votes where it and its left/right partner are labelled and both teachers see both.
        use = (labels[:, idx, 2] > 0) & (labels[:, pidx, 2] > 0)
        for t in (movenet, blazepose):
            conf = np.nan_to_num(t[..., 2])
            use &= (conf[:, idx] >= config.min_confidence) & (conf[:, pidx] >= config.min_confidence)
        use &= np.isfinite(torso)[:, None]
        enough = use.sum(axis=1) >= config.min_joints
        scale = np.where(np.isfinite(torso), torso, 1.0)[:, None]
        mn, bp = np.nan_to_num(movenet[:, idx, :2]), np.nan_to_num(blazepose[:, idx, :2])
        agree = _mean_distance(mn, bp, use) / scale[:, 0] <= config.teachers_agree
        votes = np.ones(len(labels), dtype=bool)
        for t in (mn, bp):
            d_given = _mean_distance(labels[:, idx, :2], t, use) / scale[:, 0]
            d_swapped = _mean_distance(swapped[:, idx, :2], t, use) / scale[:, 0]
            with np.errstate(invalid="ignore"):
                votes &= (d_swapped < config.ratio * d_given) & (d_given - d_swapped >= config.margin)
        mirrored[:, g] = enough & agree & votes
    return CleaningResult(mirrored)


def swap_mirrored(labels: np.ndarray, result: CleaningResult) -> np.ndarray:
    """Labels (N, 14, 3) with each mirrored group's left and right joints swapped back."""
    out = labels.copy()
    perm = LSP14.flip_permutation()
    for g, names in enumerate(SWAP_GROUPS):
        idx = [LSP14.index(n) for n in names]
        rows = np.flatnonzero(result.mirrored[:, g])
        for i in idx:
            out[rows, i] = labels[rows, perm[i]]
    return out


@dataclass(frozen=True)
class JointFixConfig:
    """When a single label is moved onto the teachers (distances in torso units)."""

    movenet_score: float = 0.3  # MoveNet sees the joint ...
    blazepose_visibility: float = 0.5  # ... and BlazePose does
    teachers_agree: float = 0.1  # the two within this of each other
    label_off: float = 0.2  # the label this far from their mean (PCK@0.2 calls it wrong)


def mirrored_joints(result: CleaningResult) -> np.ndarray:
    """(N, 14) bool: the joints of every group the mirrored test flagged."""
    out = np.zeros((len(result.mirrored), len(LSP14.joints)), dtype=bool)
    for g, names in enumerate(SWAP_GROUPS):
        columns = np.array([LSP14.index(n) for n in names])
        out[np.ix_(result.mirrored[:, g], columns)] = True
    return out


def fix_joints(labels: np.ndarray, movenet: np.ndarray, blazepose: np.ndarray,
               config: JointFixConfig = JointFixConfig(),
               keep: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Labels with the clicks that both teachers contradict moved onto the teachers' mean.

    Only labelled joints the teachers define like LSP (shoulders, elbows, wrists, knees, ankles)
    are considered; run it after the mirrored test, so a whole mirrored group is swapped, not moved
    joint by joint.

    Args:
        labels: (N, 14, 3) LSP-14 labels in image pixels, third column > 0 where labelled.
        movenet, blazepose: (N, 14, 3) teacher keypoints in the same pixels and order.
        keep: (N, 14) bool, joints to leave as they are whatever the teachers say.

    Returns:
        The labels (a copy) and an (N, 14) bool mask of the joints moved.
    """
    torso = torso_lengths(labels)[:, None]
    shared = np.zeros(labels.shape[1], dtype=bool)
    shared[[LSP14.index(n) for group in _VOTE for n in group]] = True  # the joints the teachers share
    mv, bp = movenet[..., :2], blazepose[..., :2]
    with np.errstate(invalid="ignore"):
        seen = (np.nan_to_num(movenet[..., 2]) >= config.movenet_score) \
            & (np.nan_to_num(blazepose[..., 2]) >= config.blazepose_visibility)
        mean = (mv + bp) / 2
        agree = np.linalg.norm(mv - bp, axis=-1) <= config.teachers_agree * torso
        off = np.linalg.norm(labels[..., :2] - mean, axis=-1) > config.label_off * torso
    moved = shared[None] & (labels[..., 2] > 0) & seen & agree & off & np.isfinite(torso)
    if keep is not None:
        moved &= ~keep
    out = labels.copy()
    out[moved, :2] = mean[moved]
    return out, moved
