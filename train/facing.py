"""Which way a training person faces, from the teacher's left/right: front, back or unclear.

The model's largest error is left/right: it mirrors about one person in eight, and most of those
are seen from behind (on LSPET validation it calls a back view "facing the camera" about half the
time). The teachers' left/right is reliable, so their shoulders say which way a person faces:
seen from the front, a person's left shoulder is on the image's right of the line from the
shoulders down to the hips. Rotations keep that relation and a mirror flips both the image and
the labels, so a person's facing is the same in every augmented view.

Used to weight back views in the loss (``data.back_view_weight``): a network that has learnt
"people face the camera" pays for that prior where it is wrong.
"""

from __future__ import annotations

import numpy as np

from engine.skeleton import LSP14

FRONT, BACK, UNCLEAR = 1, -1, 0
_L_SHOULDER, _R_SHOULDER = LSP14.index("L shoulder"), LSP14.index("R shoulder")
_HIPS = [LSP14.index("R hip"), LSP14.index("L hip")]
_KNEES = [LSP14.index("R knee"), LSP14.index("L knee")]


def facing_score(labels: np.ndarray, teacher: np.ndarray) -> np.ndarray:
    """Signed shoulder width across the body's axis, in torso lengths: which way and how squarely a
    person faces.

    Args:
        labels: (N, 14, 3) LSP-14 labels, third column > 0 where labelled (crop or image pixels).
        teacher: (N, 14, 3) teacher keypoints in the same pixels, third column its weight (0: absent).

    Returns:
        (N,) float (x right, y down): the component of the right-to-left shoulder vector across the
        down direction, over the length of that direction. Negative for a person facing the camera,
        positive for one seen from behind, near 0 side on (the shoulders overlap); about ±0.7-1 for
        a square view. NaN where the teacher lacks a shoulder or the down direction is unknown.
        Down runs from the teacher's mid-shoulder to the labels' mid-hip (left/right-blind, so a
        mirrored label cannot flip it), else to the teacher's mid-knee.
    """
    shoulders = teacher[:, [_R_SHOULDER, _L_SHOULDER]]
    mid_shoulder = shoulders[:, :, :2].mean(axis=1)
    right_to_left = shoulders[:, 1, :2] - shoulders[:, 0, :2]
    hips_seen = np.asarray((labels[:, _HIPS, 2] > 0).all(axis=1))
    knees_seen = np.asarray((teacher[:, _KNEES, 2] > 0).all(axis=1))
    below = np.where(hips_seen[:, None], labels[:, _HIPS, :2].mean(axis=1), teacher[:, _KNEES, :2].mean(axis=1))
    down = below - mid_shoulder
    cross = down[:, 0] * right_to_left[:, 1] - down[:, 1] * right_to_left[:, 0]
    norm = (down ** 2).sum(axis=1)
    known = np.asarray((shoulders[:, :, 2] > 0).all(axis=1)) & (hips_seen | knees_seen) & (norm > 1e-6)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(known, cross / np.where(known, norm, 1.0), np.nan)


def facing(labels: np.ndarray, teacher: np.ndarray, min_width: float = 0.3) -> np.ndarray:
    """(N,) int8: :data:`FRONT`, :data:`BACK`, or :data:`UNCLEAR` (side on: shoulders less than
    ``min_width`` torso apart across the body, or unknown). Arguments as :func:`facing_score`."""
    score = np.nan_to_num(facing_score(labels, teacher), nan=0.0)
    return np.where(score <= -min_width, FRONT, np.where(score >= min_width, BACK, UNCLEAR)).astype(np.int8)


def _confident(teacher: np.ndarray, min_confidence: float) -> np.ndarray:
    """A teacher file's keypoints (N, 14, 3) as :func:`facing_score` takes them: weight 1 where the
    confidence reaches ``min_confidence``, else 0 (NaN rows included)."""
    out = np.nan_to_num(teacher).astype(np.float32)
    out[..., 2] = (out[..., 2] >= min_confidence).astype(np.float32)
    return out


def agreed_facing(labels: np.ndarray, movenet: np.ndarray, blazepose: np.ndarray,
                  min_score: float = 0.3, min_visibility: float = 0.5) -> np.ndarray:
    """(N,) int8 facing where both teachers give the same clear answer, else :data:`UNCLEAR`.

    Args:
        labels: (N, 14, 3) LSP-14 labels in image pixels (their hips give the down direction).
        movenet, blazepose: (N, 14, 3) teacher keypoints in the same pixels (:mod:`train.teachers`),
            third column MoveNet's score and BlazePose's visibility; a shoulder votes from
            ``min_score`` and ``min_visibility`` (the thresholds label cleaning uses).
    """
    a = facing(labels, _confident(movenet, min_score))
    b = facing(labels, _confident(blazepose, min_visibility))
    return np.where(a == b, a, UNCLEAR).astype(np.int8)
