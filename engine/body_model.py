"""Where the whole person is, from the joints that are confident: crop placement for tracking.

A single-person model only sees what its crop shows, so a crop placed on the confident joints alone
loses the legs for good once they turn weak. Instead the crop is placed on the whole body the
confident joints imply: a torso frame (origin the hip midpoint, y along the torso towards the feet,
unit = torso length ‖shoulder midpoint − hip midpoint‖) is measured on the confident torso and
head, and every joint that is not confident is put where a body pose says it is, scaled and turned
with the torso: the last well-seen pose of this person, else a standing pose built from limb-length
ratios measured on the training labels.

Frames: keypoints (K, 3) are frame pixels (x right, y down) and confidence; body poses (K, 2) are in
the torso frame described above.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.skeleton import Skeleton

# Median bone lengths over torso length on the LSPET training labels (3,945 people with all 14
# joints labelled): thigh 0.77, shin 0.80, upper arm 0.58, forearm 0.54, neck to head top 0.50,
# shoulder width 0.63, hip width 0.53; the neck sits 0.08 above the shoulder line. A standing person
# is these bones hanging straight down the torso axis: 3.15 torso lengths from head top to ankles.
STANDING_POSE: dict[str, tuple[float, float]] = {
    "R hip": (-0.26, 0.0), "L hip": (0.26, 0.0),
    "R knee": (-0.26, 0.77), "L knee": (0.26, 0.77),
    "R ankle": (-0.26, 1.57), "L ankle": (0.26, 1.57),
    "R shoulder": (-0.31, -1.0), "L shoulder": (0.31, -1.0),
    "R elbow": (-0.35, -0.42), "L elbow": (0.35, -0.42),
    "R wrist": (-0.37, 0.12), "L wrist": (0.37, 0.12),
    "neck": (0.0, -1.08), "head top": (0.0, -1.58),
}
SHOULDER_WIDTH, HIP_WIDTH, HEAD_LENGTH, UPPER_ARM = 0.63, 0.53, 0.50, 0.58
# Lengths (torso units) of the segments a half torso can be sized from: a length seen in the image is
# the true one foreshortened, never more, so each gives a lower bound on the torso (side on, the
# shoulders nearly overlap and their width alone would size the person a few pixels tall).
SEGMENTS: tuple[tuple[str, str, float], ...] = (
    ("R shoulder", "L shoulder", SHOULDER_WIDTH), ("R hip", "L hip", HIP_WIDTH), ("neck", "head top", HEAD_LENGTH),
    ("R shoulder", "R elbow", UPPER_ARM), ("L shoulder", "L elbow", UPPER_ARM),
)


@dataclass(frozen=True)
class TorsoFrame:
    """A person's torso in frame pixels: hip midpoint, unit vector from hips towards the feet
    (``down``, (2,)) and torso length ``scale`` (pixels); ``measured`` says whether the scale was
    measured on this pose (shoulders and hips both found) rather than inferred."""

    hips: np.ndarray
    down: np.ndarray
    scale: float
    measured: bool

    def to_frame(self, body: np.ndarray) -> np.ndarray:
        """Body-pose points (N, 2) in torso units -> frame pixels (N, 2)."""
        right = np.array([-self.down[1], self.down[0]])  # the body's x axis, perpendicular to down
        return self.hips + self.scale * (body[:, :1] * right + body[:, 1:2] * self.down)

    def to_body(self, points: np.ndarray) -> np.ndarray:
        """Frame pixels (N, 2) -> torso units (N, 2); the inverse of :meth:`to_frame`."""
        right = np.array([-self.down[1], self.down[0]])
        d = (np.asarray(points, dtype=np.float64) - self.hips) / self.scale
        return np.stack([d @ right, d @ self.down], axis=-1)


class BodyModel:
    """Joint roles of one skeleton and the standing pose in its joint order."""

    def __init__(self, skeleton: Skeleton) -> None:
        names = list(skeleton.joints)
        missing = sorted(set(STANDING_POSE) - set(names))
        # Another skeleton: only the joints it shares with LSP get a body-pose position.
        self.index = {n: names.index(n) for n in STANDING_POSE if n in names}
        self.standing = np.array([STANDING_POSE.get(n, (0.0, 0.0)) for n in names], dtype=np.float64)
        self.known = np.array([n in STANDING_POSE for n in names])
        self.complete = not missing

    def _mid(self, kp: np.ndarray, found: np.ndarray, a: str, b: str) -> np.ndarray | None:
        pts = [kp[self.index[n], :2] for n in (a, b) if n in self.index and found[self.index[n]]]
        return np.mean(pts, axis=0) if pts else None

    def _length(self, kp: np.ndarray, found: np.ndarray, a: str, b: str) -> float | None:
        if a in self.index and b in self.index and found[self.index[a]] and found[self.index[b]]:
            return float(np.linalg.norm(kp[self.index[a], :2] - kp[self.index[b], :2]))
        return None

    def torso(self, keypoints: np.ndarray, found: np.ndarray, scale_hint: float | None,
              down_hint: np.ndarray | None = None) -> TorsoFrame | None:
        """The torso frame from the found joints (``found``: (K,) bool) of a pose (K, 3), or None when
        they do not pin it down. ``scale_hint`` (pixels) stands in for a scale this pose cannot measure,
        ``down_hint`` (unit (2,), frame pixels) for its direction (the person's torso axis measured
        on earlier frames)."""
        shoulders = self._mid(keypoints, found, "R shoulder", "L shoulder")
        hips = self._mid(keypoints, found, "R hip", "L hip")
        if shoulders is not None and hips is not None:
            axis = hips - shoulders
            length = float(np.linalg.norm(axis))
            if length > 1.0:
                return TorsoFrame(hips, axis / length, length, True)
        # Half a torso: the axis measured on earlier frames, else from the head, else upright; the
        # scale from the segments seen. The head is the last resort: people nod and tilt it (a man
        # walking along a wall top looked down 36 degrees, and legs hung along that axis left his
        # ankles below the crop).
        down = np.array([0.0, 1.0])
        neck, head = (self._mid(keypoints, found, n, n) for n in ("neck", "head top"))
        if down_hint is not None:
            down = np.asarray(down_hint, dtype=np.float64)
        elif neck is not None and head is not None and np.linalg.norm(neck - head) > 1.0:
            down = (neck - head) / np.linalg.norm(neck - head)
        # The largest of the segments' lower bounds, else the hint.
        bounds = [seen / ratio for a, b, ratio in SEGMENTS
                  if (seen := self._length(keypoints, found, a, b)) is not None and seen > 1.0]
        scale = max(bounds) if bounds else scale_hint
        if not scale:
            return None
        if shoulders is not None:
            return TorsoFrame(shoulders + scale * down, down, float(scale), False)
        if hips is not None:
            return TorsoFrame(hips, down, float(scale), False)
        return None

    def whole_body(self, keypoints: np.ndarray, found: np.ndarray, torso: TorsoFrame,
                   pose: np.ndarray | None = None) -> np.ndarray:
        """Frame points (M, 2) of the whole person, M <= K: the found joints where they are, every other
        joint the body model knows where ``pose`` (a body pose (K, 2), default the standing pose)
        puts it on this torso."""
        body = self.standing if pose is None else pose
        out = torso.to_frame(body)
        out[found] = keypoints[found, :2]
        return out[found | self.known]
