"""Person region of interest: where in the frame the single-person model looks.

Strategy: start from the central crop (as the paper does). While the pose is confident, the next
frame's crop is the padded box of the current confident keypoints. When confidence collapses the
person is searched for again with a batched multi-crop search through the pose model itself, which
needs no other model (or OpenCV's HOG people detector where the OpenCV build still has it).

Frame: boxes are ``CropBox`` in frame pixels; they are kept inside the frame, so every keypoint
decoded from a crop lies inside the frame too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from engine.crop import CropBox
from engine.errors import ConfigError


@dataclass(frozen=True)
class TrackerConfig:
    """Tracking thresholds.

    Attributes:
        joint_threshold: a joint with confidence at or above this counts as found; ``None`` takes the
            model's calibrated threshold (``ModelMetadata.joint_threshold``).
        min_joints: a person is acquired from nothing (the central crop or the search) only with at
            least this many joints found; such a pose also counts as ``confident``.
        keep_joints: a crop placed from the previous frames (tracking, or lost but not yet moved)
            keeps following while at least this many joints are found (hysteresis, so motion blur
            or a partial occlusion does not throw the person away).
        max_shrink: the crop side never falls below this fraction of the remembered person size,
            learned from well-seen poses, so it does not collapse onto the few joints that stay
            confident when limbs drop out.
        padding: the crop side is this multiple of the confident joints' longer extent.
        min_size_fraction: the crop side never drops below this fraction of the frame's short side.
        size_smoothing: weight of the previous crop size (0: none) to stop the box from breathing.
        redetect_every: while lost, run the (costly) search only every this many frames.
        search_refine: when the coarse search finds nobody, look again around this many of its
            most promising crops and the best crop of each size (8 neighbours each, a quarter crop
            away); 0 turns it off.
        detector: ``"search"`` (a batched multi-crop search through the pose model), ``"hog"``
            (OpenCV's HOG people detector; OpenCV 4.x only, it left the main package in 5.0),
            ``"hog+search"`` or ``"none"``.
    """

    joint_threshold: float | None = None
    min_joints: int = 7
    keep_joints: int = 4
    max_shrink: float = 0.85
    padding: float = 1.35
    min_size_fraction: float = 0.2
    size_smoothing: float = 0.6
    redetect_every: int = 5
    search_refine: int = 3
    detector: str = "search"

    def __post_init__(self) -> None:
        kinds = set(self.detector.split("+"))
        if not kinds <= {"hog", "search", "none"}:
            raise ConfigError(f"unknown person detector {self.detector!r} (search, hog, hog+search, none)")
        if "hog" in kinds and not hog_available():
            raise ConfigError("the HOG people detector needs OpenCV 4.x (OpenCV 5 moved it out); use 'search'")


def hog_available() -> bool:
    return hasattr(cv2, "HOGDescriptor")


def clamp_box(box: CropBox, width: int, height: int, min_size: float = 16.0) -> CropBox:
    """Clamp a square box to lie inside a (width x height) frame, shrinking it if it is too big."""
    size = float(np.clip(box.size, min_size, min(width, height)))
    half = size / 2
    cx = float(np.clip(box.cx, half - 0.5, width - 0.5 - half))
    cy = float(np.clip(box.cy, half - 0.5, height - 0.5 - half))
    return CropBox(cx, cy, size, box.rotation)


def central_box(width: int, height: int) -> CropBox:
    """The paper's starting point: the largest centred square."""
    return CropBox((width - 1) / 2, (height - 1) / 2, float(min(width, height)))


def box_from_keypoints(keypoints: np.ndarray, threshold: float, padding: float) -> CropBox | None:
    """Padded square around the keypoints (K, 3) whose confidence is at least ``threshold``."""
    good = keypoints[keypoints[:, 2] >= threshold, :2]
    if len(good) < 2:
        return None
    (x0, y0), (x1, y1) = good.min(axis=0), good.max(axis=0)
    return CropBox.from_xyxy(float(x0), float(y0), float(x1), float(y1), padding=padding)


class HogPeopleDetector:
    """OpenCV's built-in HOG + linear SVM pedestrian detector, run on a downscaled frame."""

    def __init__(self, work_width: int = 640) -> None:
        self.work_width = work_width
        hog_cls = getattr(cv2, "HOGDescriptor")  # noqa: B009 - absent from OpenCV 5's main package
        self.hog = hog_cls()
        self.hog.setSVMDetector(hog_cls.getDefaultPeopleDetector())

    def __call__(self, frame: np.ndarray) -> list[tuple[float, float, float, float, float]]:
        """Detections as (x0, y0, x1, y1, score) in frame pixels, best first."""
        h, w = frame.shape[:2]
        scale = min(1.0, self.work_width / w)
        small = cv2.resize(frame, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA) \
            if scale < 1 else frame
        rects, weights = self.hog.detectMultiScale(small, winStride=(8, 8), padding=(8, 8), scale=1.05)
        out = [(x / scale, y / scale, (x + rw) / scale, (y + rh) / scale, float(s))
               for (x, y, rw, rh), s in zip(rects, np.ravel(weights), strict=True)]
        return sorted(out, key=lambda d: -d[4])


def search_boxes(width: int, height: int) -> list[CropBox]:
    """Candidate crops for the multi-crop search: a sliding square at two scales."""
    boxes = []
    for frac in (1.0, 0.6):
        size = min(width, height) * frac
        nx = max(1, int(np.ceil((width - size) / (size * 0.5))) + 1)
        ny = max(1, int(np.ceil((height - size) / (size * 0.5))) + 1)
        # Pixel centres are integers, so the frame spans [-0.5, W - 0.5]: these are the box centres
        # of crops that touch its edges (as in clamp_box).
        for cx in np.linspace(size / 2 - 0.5, width - 0.5 - size / 2, nx):
            for cy in np.linspace(size / 2 - 0.5, height - 0.5 - size / 2, ny):
                boxes.append(CropBox(float(cx), float(cy), size))
    return boxes


def neighbour_boxes(box: CropBox, width: int, height: int) -> list[CropBox]:
    """The 8 crops around ``box``, a quarter of its side away, kept inside the frame (duplicates of
    ``box`` or of each other, where the frame edge clamps them, dropped)."""
    step = box.size / 4
    out: list[CropBox] = []
    seen = {(round(box.cx, 1), round(box.cy, 1), round(box.size, 1))}
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            c = clamp_box(CropBox(box.cx + dx * step, box.cy + dy * step, box.size), width, height)
            key = (round(c.cx, 1), round(c.cy, 1), round(c.size, 1))
            if key not in seen:
                seen.add(key)
                out.append(c)
    return out


# estimate(boxes) -> (N, K, 3) keypoints; the tracker stays independent of the backend type.
EstimateFn = Callable[[Sequence[CropBox]], np.ndarray]


def pose_score(keypoints: np.ndarray, threshold: float) -> tuple[int, float]:
    """(number of joints at or above ``threshold``, mean confidence) of one pose (K, 3)."""
    conf = keypoints[:, 2]
    return int((conf >= threshold).sum()), float(conf.mean())


class PersonTracker:
    """Chooses the crop for each frame from the previous pose, re-acquiring the person when lost."""

    def __init__(self, config: TrackerConfig | None = None, default_threshold: float = 0.3) -> None:
        self.default_threshold = default_threshold
        self.config = config or TrackerConfig()
        self._hog: HogPeopleDetector | None = None
        self.box: CropBox | None = None
        self.state = "init"
        self._lost_frames = 0
        self._person_size: float | None = None  # crop side for the whole person, frame pixels

    @property
    def threshold(self) -> float:
        """The joint confidence threshold in force: the config's, else the model's."""
        t = self.config.joint_threshold
        return self.default_threshold if t is None else t

    def reset(self) -> None:
        self.box, self.state, self._lost_frames, self._person_size = None, "init", 0, None

    def is_confident(self, keypoints: np.ndarray) -> bool:
        return pose_score(keypoints, self.threshold)[0] >= self.config.min_joints

    def propose(self, frame: np.ndarray, estimate: EstimateFn, acquire_joints: int | None = None) -> CropBox:
        """The crop to use on ``frame``; may run detection or a model search when the person is lost.

        ``acquire_joints``: joints the search needs to accept a person (default ``min_joints``).
        """
        h, w = frame.shape[:2]
        if self.state == "init" or self.box is None:
            # The paper's starting point; if nobody is there, the next frame searches.
            self.box, self.state = central_box(w, h), "central"
            return self.box
        if self.state == "lost" and (self._lost_frames - 1) % max(1, self.config.redetect_every) == 0:
            found = self._acquire(frame, estimate, acquire_joints or self.config.min_joints)
            if found is not None:
                self.box, self.state = clamp_box(found, w, h), "acquired"
                self._person_size = self.box.size
        return self.box

    def update(self, frame_shape: tuple[int, ...], keypoints: np.ndarray) -> None:
        """Feed back the pose found in the proposed crop; sets the next frame's crop."""
        h, w = frame_shape[:2]
        c = self.config
        found = pose_score(keypoints, self.threshold)[0]
        # The central crop is a guess and needs a full pose; any crop placed from the person's own
        # earlier pose (acquired, tracking, or lost but not moved yet) only needs to keep a few joints.
        needed = c.min_joints if self.state == "central" else max(2, c.keep_joints)
        if found < needed:
            self.state = "lost"
            self._lost_frames += 1
            return
        nxt = box_from_keypoints(keypoints, self.threshold, c.padding)
        assert nxt is not None  # at least two joints are found
        size = max(nxt.size, c.min_size_fraction * min(w, h))
        if found >= c.min_joints:
            # A well-seen pose: its extent measures the whole person.
            self._person_size = size if self._person_size is None else 0.8 * self._person_size + 0.2 * size
        if self._person_size is not None:
            size = max(size, c.max_shrink * self._person_size)
        if self.box is not None and self.state == "tracking":
            size = c.size_smoothing * self.box.size + (1 - c.size_smoothing) * size
        self.box = clamp_box(CropBox(nxt.cx, nxt.cy, size), w, h)
        self.state = "tracking"
        self._lost_frames = 0

    def _acquire(self, frame: np.ndarray, estimate: EstimateFn, min_joints: int) -> CropBox | None:
        w = frame.shape[1]
        kinds = self.config.detector.split("+")
        if "hog" in kinds:
            if self._hog is None:
                self._hog = HogPeopleDetector()
            dets = self._hog(frame)
            if dets:
                # Prefer the detection nearest the frame centre: the "central person".
                x0, y0, x1, y1, _ = min(dets, key=lambda d: abs((d[0] + d[2]) / 2 - w / 2))
                return CropBox.from_xyxy(x0, y0, x1, y1, padding=1.1)
        if "search" in kinds:
            return self._search(frame, estimate, min_joints)
        return None

    def _search(self, frame: np.ndarray, estimate: EstimateFn, min_joints: int) -> CropBox | None:
        """Find a person with the model itself: a coarse grid of crops, then, where that finds only
        a trace of someone, the neighbourhoods of its most promising crops."""
        h, w = frame.shape[:2]
        boxes = search_boxes(w, h)
        poses = estimate(boxes)
        scores = [pose_score(p, self.threshold) for p in poses]
        found = max(count for count, _ in scores)
        if min_joints > found >= 2 and self.config.search_refine > 0:
            # A single-person model finds a person only near the middle of its crop, and the coarse
            # grid can straddle one. Look again around the crops with the highest mean confidence
            # and the best of each size (the person's size is unknown); an empty scene, without
            # even two joints anywhere, costs no second pass.
            ranked = sorted(range(len(boxes)), key=lambda i: -scores[i][1])
            top = ranked[: self.config.search_refine]
            for size in sorted({b.size for b in boxes}):
                best_of_size = next(i for i in ranked if boxes[i].size == size)
                if best_of_size not in top:
                    top.append(best_of_size)
            boxes = [b for i in top for b in neighbour_boxes(boxes[i], w, h)]
            poses = estimate(boxes)
            scores = [pose_score(p, self.threshold) for p in poses]
        best = max(range(len(boxes)), key=lambda i: scores[i])
        if scores[best][0] < min_joints:
            return None
        # Centre on the joints found, but keep at least the search crop's scale: the joints found
        # first are often a subset (upper body), whose extent understates the person.
        refined = box_from_keypoints(poses[best], self.threshold, self.config.padding)
        assert refined is not None
        return CropBox(refined.cx, refined.cy, max(refined.size, boxes[best].size))
