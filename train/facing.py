"""Which way a training person faces, from the teacher's left/right: front, back or unclear.

The model's largest error is left/right: it mirrors about one person in eight, and it mirrors
people seen from behind far more often than people facing the camera (5 times as often on LSPET
validation, 15 times on MPII's expert labels; ``hgpose eval --teachers``). The teachers'
left/right is reliable, so their shoulders say which way a person faces: turned upright, a person
facing the camera has the left shoulder on the image's right of the body's axis (the line from
the shoulders down to the hips), one seen from behind on its left. A rotation keeps that relation
and a mirror flips both the image and the left/right labels, so a person's facing is the same in
every augmented view.

Used to weight back views in the loss (``data.back_view_weight``): a network that has learnt
"people face the camera" pays for that prior where it is wrong.
"""

from __future__ import annotations

import numpy as np

from engine.skeleton import LSP14
from train.label_cleaning import JointFixConfig

FRONT, BACK, UNCLEAR = 1, -1, 0
_L_SHOULDER, _R_SHOULDER = LSP14.index("L shoulder"), LSP14.index("R shoulder")
_HIPS = [LSP14.index("R hip"), LSP14.index("L hip")]
_KNEES = [LSP14.index("R knee"), LSP14.index("L knee")]
# Mid-shoulder to mid-hip over mid-shoulder to mid-knee: the median on LSPET's training labels
# (0.51-1.15 from the 10th to the 90th percentile, with bent knees). It keeps the score in torso
# lengths when the knees stand in for unlabelled hips.
HIP_SHARE_OF_KNEE = 0.67
# Shorter than this many shoulder widths, the torso points at the camera and its direction is noise.
MIN_TORSO = 0.25

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
        a square view. NaN where the teacher lacks a shoulder, the down direction is unknown, or
        the torso is foreshortened to under :data:`MIN_TORSO` shoulder widths. Down runs from the
        teacher's mid-shoulder to the labels' mid-hip (left/right-blind, so a mirrored label
        cannot flip it), else to the teacher's mid-knee, whose length is scaled by
        :data:`HIP_SHARE_OF_KNEE` to stand for the torso's.
    """
    shoulders = teacher[:, [_R_SHOULDER, _L_SHOULDER]]
    mid_shoulder = shoulders[:, :, :2].mean(axis=1)
    right_to_left = shoulders[:, 1, :2] - shoulders[:, 0, :2]
    hips_seen = np.asarray((labels[:, _HIPS, 2] > 0).all(axis=1))
    knees_seen = np.asarray((teacher[:, _KNEES, 2] > 0).all(axis=1))
    below = np.where(hips_seen[:, None], labels[:, _HIPS, :2].mean(axis=1), teacher[:, _KNEES, :2].mean(axis=1))
    down = below - mid_shoulder
    cross = down[:, 0] * right_to_left[:, 1] - down[:, 1] * right_to_left[:, 0]
    # cross / |down| is the shoulder width across the axis; one more |down| (the torso's length,
    # scaled when the knees stand in) puts it in torso lengths.
    length = np.linalg.norm(down, axis=1)
    torso = length * np.where(hips_seen, 1.0, HIP_SHARE_OF_KNEE)
    known = (np.asarray((shoulders[:, :, 2] > 0).all(axis=1)) & (hips_seen | knees_seen)
             & (torso >= MIN_TORSO * np.linalg.norm(right_to_left, axis=1)) & (torso > 0))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(known, cross / np.where(known, length * torso, 1.0), np.nan)


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
                  min_score: float = JointFixConfig.movenet_score,
                  min_visibility: float = JointFixConfig.blazepose_visibility) -> np.ndarray:
    """(N,) int8 facing where both teachers give the same clear answer, else :data:`UNCLEAR`.

    Args:
        labels: (N, 14, 3) LSP-14 labels in image pixels (their hips give the down direction).
        movenet, blazepose: (N, 14, 3) teacher keypoints in the same pixels (:mod:`train.teachers`),
            third column MoveNet's score and BlazePose's visibility; a shoulder votes from
            ``min_score`` and ``min_visibility`` (as in :class:`train.label_cleaning.JointFixConfig`,
            where both teachers must see a joint).
    """
    a = facing(labels, _confident(movenet, min_score))
    b = facing(labels, _confident(blazepose, min_visibility))
    return np.where(a == b, a, UNCLEAR).astype(np.int8)
