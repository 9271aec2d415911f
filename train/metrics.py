"""PCK: the Percentage of Correct Keypoints, normalised by torso size (LSP protocol)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.skeleton import Skeleton

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


def pck(pred: np.ndarray, truth: np.ndarray, skeleton: Skeleton, threshold: float = 0.2,
        torso: tuple[str, str] = LSP_TORSO, exclude_from_limbs: tuple[str, ...] = LSP_HEAD_JOINTS) -> PCKResult:
    """PCK over N people.

    Args:
        pred: (N, K, 2+) predicted x, y in any frame.
        truth: (N, K, 3) ground truth x, y in the same frame, third column > 0 where labelled.

    A joint is correct when it lies within ``threshold * |truth[torso[0]] - truth[torso[1]]|``.
    People whose torso joints are not both labelled are skipped; unlabelled joints are not counted.
    """
    a, b = skeleton.index(torso[0]), skeleton.index(torso[1])
    lab = truth[..., 2] > 0
    torso_len = np.linalg.norm(truth[:, a, :2] - truth[:, b, :2], axis=1)
    valid_person = lab[:, a] & lab[:, b] & (torso_len > 1e-6)
    dist = np.linalg.norm(pred[..., :2] - truth[..., :2], axis=2)
    correct = dist <= threshold * torso_len[:, None]
    counted = lab & valid_person[:, None]
    hits = (correct & counted).sum(axis=0)
    counts = counted.sum(axis=0)
    per_joint = np.where(counts > 0, hits / np.maximum(counts, 1), np.nan)
    limb_idx = [i for i, n in enumerate(skeleton.joints) if n not in exclude_from_limbs]
    overall = float(hits.sum() / max(counts.sum(), 1))
    limbs = float(hits[limb_idx].sum() / max(counts[limb_idx].sum(), 1))
    return PCKResult(threshold, tuple(float(x) for x in per_joint), overall, limbs,
                     tuple(int(c) for c in counts))
