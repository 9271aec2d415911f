"""Synthetic poses for tracker and pipeline tests (frame pixels, LSP order)."""

import numpy as np

from engine.crop import CropBox

# A standing person in LSP order (R ankle, R knee, R hip, L hip, L knee, L ankle, R wrist, R elbow,
# R shoulder, L shoulder, L elbow, L wrist, neck, head top), torso ``torso`` px, hips at (x, y).
STANDING = np.array([[-0.26, 1.6], [-0.26, 0.8], [-0.26, 0], [0.26, 0], [0.26, 0.8], [0.26, 1.6],
                     [-0.4, 0.1], [-0.35, -0.45], [-0.3, -1], [0.3, -1], [0.35, -0.45], [0.4, 0.1],
                     [0, -1.08], [0, -1.6]])


def standing_pose(x: float, torso: float, y: float = 360.0, conf: float = 0.9) -> np.ndarray:
    kp = np.zeros((14, 3), np.float32)
    kp[:, :2] = np.array([x, y]) + torso * STANDING
    kp[:, 2] = conf
    return kp


def contains(box: CropBox, points: np.ndarray) -> bool:
    x0, y0, x1, y1 = box.xyxy
    return bool(((points[:, 0] >= x0) & (points[:, 0] <= x1) & (points[:, 1] >= y0) & (points[:, 1] <= y1)).all())
