"""PCK: the Percentage of Correct Keypoints, normalised by torso size (LSP protocol)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.skeleton import Skeleton
from train.label_cleaning import SWAP_GROUPS

# LSP14 torso for PCK: left shoulder to right hip.
LSP_TORSO = ("L shoulder", "R hip")
LSP_HEAD_JOINTS = ("neck", "head top")


@dataclass(frozen=True)
class PCKResult:
    """Per-joint and overall PCK at one threshold."""

    threshold: float
    per_joint: tuple[float, ...]
    overall: float
    limbs: float
    counts: tuple[int, ...]


def correct_joints(pred: np.ndarray, truth: np.ndarray, skeleton: Skeleton, threshold: float = 0.2,
                   torso: tuple[str, str] = LSP_TORSO) -> tuple[np.ndarray, np.ndarray]:
    """(N, K) bool twice: which joints lie within ``threshold`` torsos of the truth, and which
    count (labelled, in a person whose torso joints are both labelled).

    Args:
        pred: (N, K, 2+) predicted x, y in any frame.
        truth: (N, K, 3) ground truth x, y in the same frame, third column > 0 where labelled.
    """
    a, b = skeleton.index(torso[0]), skeleton.index(torso[1])
    lab = truth[..., 2] > 0
    torso_len = np.linalg.norm(truth[:, a, :2] - truth[:, b, :2], axis=1)
    valid_person = lab[:, a] & lab[:, b] & (torso_len > 1e-6)
    correct = np.linalg.norm(pred[..., :2] - truth[..., :2], axis=2) <= threshold * torso_len[:, None]
    return correct, lab & valid_person[:, None]


def pck(pred: np.ndarray, truth: np.ndarray, skeleton: Skeleton, threshold: float = 0.2,
        torso: tuple[str, str] = LSP_TORSO, exclude_from_limbs: tuple[str, ...] = LSP_HEAD_JOINTS) -> PCKResult:
    """PCK over N people.

    Args:
        pred: (N, K, 2+) predicted x, y in any frame.
        truth: (N, K, 3) ground truth x, y in the same frame, third column > 0 where labelled.

    A joint is correct when it lies within ``threshold * |truth[torso[0]] - truth[torso[1]]|``.
    People whose torso joints are not both labelled are skipped; unlabelled joints are not counted.
    """
    correct, counted = correct_joints(pred, truth, skeleton, threshold, torso)
    hits = (correct & counted).sum(axis=0)
    counts = counted.sum(axis=0)
    per_joint = np.where(counts > 0, hits / np.maximum(counts, 1), np.nan)
    limb_idx = [i for i, n in enumerate(skeleton.joints) if n not in exclude_from_limbs]
    overall = float(hits.sum() / max(counts.sum(), 1))
    limbs = float(hits[limb_idx].sum() / max(counts[limb_idx].sum(), 1))
    return PCKResult(threshold, tuple(float(x) for x in per_joint), overall, limbs,
                     tuple(int(c) for c in counts))


@dataclass(frozen=True)
class MirrorResult:
    """How many people come out mirrored (left and right swapped) among those where it shows."""

    mirrored: int
    eligible: int

    @property
    def share(self) -> float:
        return self.mirrored / max(self.eligible, 1)


def mirrored_people(pred: np.ndarray, truth: np.ndarray, skeleton: Skeleton, apart: float = 0.2,
                    margin: float = 0.1, torso: tuple[str, str] = LSP_TORSO,
                    exclude: tuple[str, ...] = LSP_HEAD_JOINTS) -> MirrorResult:
    """People whose prediction fits the left/right-swapped truth better than the truth.

    Args:
        pred: (N, K, 2+) predictions; truth: (N, K, 3) labels in the same frame.
        apart: a person is eligible when its labelled left/right limb joints lie on average at least
            this far (in torso units) from their partners: side views, where left and right
            coincide, cannot show a mirror.
        margin: mirrored when the mean distance to the swapped truth is smaller by this much (torso units).

    Only limb joints whose partner is labelled too count; people without a labelled torso are skipped.
    """
    mirrored, eligible = mirrored_mask(pred, truth, skeleton, apart, margin, torso, exclude)
    return MirrorResult(int(mirrored.sum()), int(eligible.sum()))


def mirrored_mask(pred: np.ndarray, truth: np.ndarray, skeleton: Skeleton, apart: float = 0.2,
                  margin: float = 0.1, torso: tuple[str, str] = LSP_TORSO,
                  exclude: tuple[str, ...] = LSP_HEAD_JOINTS) -> tuple[np.ndarray, np.ndarray]:
    """:func:`mirrored_people` person by person: (mirrored, eligible), each (N,) bool."""
    a, b = skeleton.index(torso[0]), skeleton.index(torso[1])
    perm = np.array(skeleton.flip_permutation())
    limbs = np.array([i for i, n in enumerate(skeleton.joints) if n not in exclude and perm[i] != i])
    lab = truth[..., 2] > 0
    torso_len = np.linalg.norm(truth[:, a, :2] - truth[:, b, :2], axis=1)
    use = lab[:, limbs] & lab[:, perm[limbs]]
    n = use.sum(axis=1)
    scale = np.where(torso_len > 1e-6, torso_len, np.nan)[:, None]

    def mean(d: np.ndarray) -> np.ndarray:
        return np.where(use, d, 0.0).sum(axis=1) / np.maximum(n, 1)

    swapped = truth[:, perm]
    spread = mean(np.linalg.norm(truth[:, limbs, :2] - swapped[:, limbs, :2], axis=2) / scale)
    d_given = mean(np.linalg.norm(pred[:, limbs, :2] - truth[:, limbs, :2], axis=2) / scale)
    d_swapped = mean(np.linalg.norm(pred[:, limbs, :2] - swapped[:, limbs, :2], axis=2) / scale)
    with np.errstate(invalid="ignore"):
        eligible = lab[:, a] & lab[:, b] & (n >= 2) & (spread >= apart)
        mirrored = eligible & (d_swapped + margin < d_given)
    return mirrored, eligible


def sides_oracle(pred: np.ndarray, truth: np.ndarray, skeleton: Skeleton, threshold: float = 0.2,
                 torso: tuple[str, str] = LSP_TORSO) -> PCKResult:
    """PCK as it would be with every person's arms and legs labelled the right way round.

    For each person, each of :data:`train.label_cleaning.SWAP_GROUPS` (the arms; the legs with
    the hips) takes whichever labelling, the model's or its left/right swap, gets more of its
    joints correct. The difference from :func:`pck` is what left/right confusions cost: an upper
    bound on what fixing them alone could gain (it also forgives labels that are themselves mirrored).

    Args:
        pred: (N, K, 2+) predictions; truth: (N, K, 3) labels in the same frame.
    """
    swapped = pred[:, list(skeleton.flip_permutation())]
    given, counted = correct_joints(pred, truth, skeleton, threshold, torso)
    other, _ = correct_joints(swapped, truth, skeleton, threshold, torso)
    given, other = given & counted, other & counted
    best = pred.copy()
    for names in SWAP_GROUPS:
        group = np.array([skeleton.index(n) for n in names])
        better = other[:, group].sum(axis=1) > given[:, group].sum(axis=1)
        best[np.ix_(better, group)] = swapped[np.ix_(better, group)]
    return pck(best, truth, skeleton, threshold, torso)
