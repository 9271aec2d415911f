"""Calibrating a model's joint-confidence threshold on validation data.

The threshold that decides "this joint is found" (tracking) and "draw it" is measured per model
(:mod:`engine.calibration`) and stored in its metadata: ``calibration["joint_threshold"]`` for crops
read alone, ``calibration["joint_threshold_flip"]`` for crops read with the flip test, whose averaged
heatmaps peak lower (``ModelMetadata.threshold_for``).
"""

from __future__ import annotations

import numpy as np

from engine.calibration import youden_threshold
from engine.metadata import FLIP_THRESHOLD_KEY
from engine.skeleton import Skeleton
from train.metrics import LSP_TORSO, correct_joints


def joint_threshold(pred: np.ndarray, truth: np.ndarray, skeleton: Skeleton, pck_threshold: float = 0.2,
                    torso: tuple[str, str] = LSP_TORSO) -> float | None:
    """The confidence that best separates correct joints from wrong ones (Youden's J statistic).

    Args:
        pred: (N, K, 3) predictions (x, y, confidence) in the frame of ``truth``.
        truth: (N, K, 3) ground truth, third column > 0 where labelled.

    A joint is correct when it is within ``pck_threshold`` torsos of the truth (PCK). The result
    maximises (share of correct joints kept) - (share of wrong joints kept). ``None`` when the
    set has no correct or no wrong joints (an untrained or a perfect model): nothing to separate.
    """
    correct, valid = correct_joints(pred, truth, skeleton, pck_threshold, torso)
    conf = pred[..., 2]
    return youden_threshold(conf[valid & correct], conf[valid & ~correct])


def calibration_thresholds(plain: np.ndarray, flipped: np.ndarray, truth: np.ndarray,
                           skeleton: Skeleton) -> dict[str, float]:
    """A model's ``calibration`` entries from its predictions on the same validation crops.

    Args:
        plain: (N, K, 3) predictions without the flip test, in the frame of ``truth``.
        flipped: (N, K, 3) the same crops with the flip test.
        truth: (N, K, 3) ground truth, third column > 0 where labelled.

    A threshold that cannot be measured (see :func:`joint_threshold`) is left out.
    """
    found = {"joint_threshold": joint_threshold(plain, truth, skeleton),
             FLIP_THRESHOLD_KEY: joint_threshold(flipped, truth, skeleton)}
    return {k: t for k, t in found.items() if t is not None}
