"""How the pose is drawn: the same rules for the screen, screenshots and recordings."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.pipeline import PoseResult
from engine.render import draw_pose
from engine.skeleton import Skeleton


@dataclass(frozen=True)
class OverlayOptions:
    """Joints below ``threshold`` are hidden; ``show_box`` draws the crop the model looked at."""

    threshold: float = 0.3
    show_box: bool = False


def annotate(image: np.ndarray, result: PoseResult, skeleton: Skeleton, options: OverlayOptions) -> np.ndarray:
    """A copy of ``image`` with the pose drawn by ``engine.render.draw_pose``."""
    return draw_pose(image.copy(), result.keypoints, skeleton, options.threshold,
                     result.box if options.show_box else None)
