"""Calibrating a model's joint-confidence threshold on validation data.

The threshold that decides "this joint is found" (tracking) and "draw it" is measured per model
(:mod:`engine.calibration`) and stored in its metadata (``calibration["joint_threshold"]``).
"""

from __future__ import annotations

import numpy as np

from engine.calibration import youden_threshold
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
