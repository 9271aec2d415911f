"""The confidence threshold that best separates right joints from wrong ones (Youden's J statistic).

Heatmap peaks are not probabilities: a weak model's peaks on correct joints may sit around 0.2, a
strong one's near 0.8. So the threshold that decides "this joint is found" (tracking) and "draw it"
is measured per model: on validation crops by ``hgpose train`` and ``hgpose calibrate`` (stored in
the model's metadata), and on a clip against a reference by ``hgpose compare`` (to see whether video wants
another threshold than the crops of the validation set).
"""

from __future__ import annotations

import numpy as np

CANDIDATES = np.round(np.arange(0.02, 0.96, 0.01), 2)


def youden_threshold(right: np.ndarray, wrong: np.ndarray) -> float | None:
    """The candidate score that maximises (share of ``right`` at or above it) - (share of ``wrong``).

    Args:
        right: (N,) scores of joints that are right (within the PCK distance of the truth).
        wrong: (M,) scores of joints that are wrong.

    The lowest such candidate where several tie. ``None`` when either set is empty (an untrained or
    a perfect model), or when no candidate keeps a larger share of right joints than of wrong ones:
    nothing to separate.
    """
    right, wrong = np.ravel(right), np.ravel(wrong)
    if len(right) == 0 or len(wrong) == 0:
        return None
    tpr = (right[None, :] >= CANDIDATES[:, None]).mean(axis=1)
    fpr = (wrong[None, :] >= CANDIDATES[:, None]).mean(axis=1)
    best = int(np.argmax(tpr - fpr))
    return float(CANDIDATES[best]) if tpr[best] > fpr[best] else None
