"""Joint angles for sports analysis: the angle at a joint between its two neighbouring limbs."""

from __future__ import annotations

import numpy as np

from engine.skeleton import Skeleton


def joint_angles(keypoints: np.ndarray, skeleton: Skeleton, min_confidence: float = 0.0) -> dict[str, float]:
    """Angles in degrees (0..180) for each of ``skeleton.angles`` from keypoints (K, 3) in pixels.

    An angle is NaN when one of its three joints is below ``min_confidence`` or two coincide.
    """
    out: dict[str, float] = {}
    for name, a, v, b in skeleton.angles:
        if min(keypoints[a, 2], keypoints[v, 2], keypoints[b, 2]) < min_confidence:
            out[name] = float("nan")
            continue
        u = keypoints[a, :2].astype(np.float64) - keypoints[v, :2]
        w = keypoints[b, :2].astype(np.float64) - keypoints[v, :2]
        nu, nw = np.linalg.norm(u), np.linalg.norm(w)
        if nu < 1e-9 or nw < 1e-9:
            out[name] = float("nan")
            continue
        cos = float(np.clip(np.dot(u, w) / (nu * nw), -1.0, 1.0))
        out[name] = float(np.degrees(np.arccos(cos)))
    return out
