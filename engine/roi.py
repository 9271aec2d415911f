"""Person region of interest: where in the frame the single-person model looks.

Strategy: start from the central crop (as the paper does). While the person is followed, the next
frame's crop holds the whole body the pose implies (:mod:`engine.body_model`): the confident torso
and head place the person's last well-seen pose (or a standing pose) over the joints that are weak,
so legs that turn weak stay in the crop and can come back. The crop shrinks only when a measured
torso says the person got smaller. When the person is lost the tracker looks where the frame moved
(:mod:`engine.motion`: a few crops; in the crop where a confirmed person was lost, at least their
size), then searches the whole frame with a batched multi-crop pass through the pose model itself,
which needs no other model (or OpenCV's HOG people detector where the OpenCV build still has it); a
scene that has not changed since a search found nobody is not searched again. Left and right are
kept consistent from frame to frame.

Frame: boxes are ``CropBox`` in frame pixels; they are kept inside the frame, so every keypoint
decoded from a crop lies inside the frame too (unless ``upright`` turns the crop: a turned square's
corners may reach outside, where the crop is black).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import cv2
import numpy as np

from engine.body_model import BodyModel
from engine.crop import CropBox, apply_affine, crop_matrix
from engine.errors import ConfigError
from engine.motion import MotionCue, scene_changed
from engine.skeleton import Skeleton, get_skeleton


@dataclass(frozen=True)
class TrackerConfig:
    """Tracking thresholds.

    Joint counts are taken at two levels of the model's calibrated threshold ``t``: *found* (at
    least ``t``, what is drawn) and *support* (at least ``support_fraction * t``: a trace of the
    person; a crop on an empty scene rarely reaches three such joints, one on a person nearly all).
    Being relative to the calibrated threshold, they carry over to another model.

    Attributes:
        joint_threshold: a joint with confidence at or above this counts as found; ``None`` takes the
            model's calibrated threshold (``ModelMetadata.joint_threshold``).
        min_joints: a person is acquired from nothing (the central crop, the search or the motion
            cue) with at least this many joints found, or ``acquire_support`` joints of support and
            ``keep_joints`` found;
            ``min_joints`` found joints also make a pose ``confident``.
        acquire_support: joints of support that also acquire a person.
        keep_joints: a crop placed from the previous frames (tracking, or lost but not yet moved)
            keeps following while at least this many joints are found, or ``keep_support`` joints
            have support (hysteresis, so motion blur or a partial occlusion does not throw the
            person away).
        keep_support: see ``keep_joints``.
        max_weak_frames: support alone keeps following for at most this many frames in a row (then
            the person counts as lost, the crop is held ``hold_frames`` more and the search looks
            elsewhere); found joints reset the count. 0: no limit.
        support_fraction: the support level as a fraction of the threshold.
        well_seen: a pose with at least this many joints found (and its torso) is remembered as the
            person's body pose, which places the joints that turn weak later.
        padding: the crop side is this multiple of the whole body's longer extent (training crops
            pad the labelled joints by 1.25).
        shrink_rate: the body's torso scale shrinks by at most this fraction a frame, and only when a
            measured torso says so: joints dropping out never shrink the crop.
        min_size_fraction: the crop side never drops below this fraction of the frame's short side.
        size_smoothing: weight of the previous crop size (0: none) to stop the box from breathing.
        upright: when positive, a crop follows a person leaning (or lying, or upside down) by this
            many degrees or more with a turn towards setting the torso upright, as MediaPipe does
            for gymnasts and falls (measured on the torso, smoothed); 0 keeps crops unturned.
        upright_turn: the turn is at most this many degrees either way. Measured with ``hgpose
            track-eval`` on the five reference clips (a treadmill runner bending far forward, filmed
            from four sides, and two walkers), stage 12: unturned crops found the person on 0.727 of
            the frames (mean); a whole turn from 30 degrees of lean 0.681 (the runner bends at the
            hips, and a torso set upright lays the legs sideways); turns capped at 60, 45, 30 and
            20 degrees 0.726, 0.769, **0.830** and 0.830 (PCK drawn 0.647, 0.681, 0.697, 0.709
            against 0.627). 30 is the rotation range the model was trained on.
        weak_step: while tracking a pose that is not confident (fewer than ``min_joints`` found),
            the crop's centre moves at most this fraction of its side a frame, and its side grows at
            most by this fraction: a weak pose is partly wrong, and a crop that follows wrong joints
            drifts off the person (the head leaves the top, and the model then fails for good).
            A person moves a few percent of their crop a frame at video rates. 0 turns it off.
        hold_frames: after losing a confirmed person (one with a confident pose, or followed for
            ``confirm_frames``), this many frames keep its crop before the motion cue and the
            whole-frame search look for anyone anywhere (an unconfirmed find may be false: search
            at once). Measured with ``hgpose track-eval`` on the five reference clips: 10 frames
            kept the crop of a person who had walked on (mean found 0.575, legs in box 0.962);
            6 found them again sooner (0.591, 0.973) with the person search still under 10 % of
            the crops run on every clip (2 frames: 0.596 but legs in box 0.961).
        confirm_frames: see ``hold_frames``.
        redetect_every: while lost, run the (costly) whole-frame search only every this many frames.
        search_scales: crop sides of the whole-frame search, as fractions of the frame's short side
            (a sliding grid at each, half a crop apart), run in this order until one holds a
            confident person (``min_joints`` found; a weaker find waits for the other grids, as a
            large crop often reads a person into a treadmill's belt), then the best find of all.
            The first search of a clip is most of what the search costs on it, and the runner of the
            portrait treadmill clips sits between the whole-width crops (1.0) but inside those of
            0.8, whose grid (8 crops) then ends the search: measured with ``hgpose track-eval --flip
            unsure`` on the five reference clips (8 runs), against the former single batch of (1.0,
            0.6), the search's share of all crops fell on ``cam01`` from 14.8 to 8.5 % and on
            ``cam02`` from 15.8 to 8.2 % and the mean found rose from 0.934 to 0.948
            (``search_trace`` included: the bundled walker, empty for 37 frames, 9.8 to 6.5 %). The
            whole-height crops come last: a person filling 85-100 % of the frame's height is found
            by them more often than by the 0.8 crops (40 ``mpii_val`` people pasted into an empty
            frame at full height: found by the search 30 times with them, 23 without).
        still_search_scales: smaller crop sides a still image is searched at when ``search_scales``
            find nobody, one after another until someone is found: a single-person model finds a
            person who fills most of its crop, so a person 15-35 % of a photo's height needs crops
            of 0.35 and 0.2 of its side. Video does not pay for them: there the motion cue proposes
            crops the size of what moves (a 1280x720 frame takes about 200 more crops at these),
            except in the crop of a confirmed person just lost, where it looks at that person's size.
        search_trace: on video, a first grid of ``search_scales`` none of whose crops shows at
            least this many joints with support ends the search: nobody is there, and the other
            grids (more crops) are not run; 0 runs every grid. The large crops see anyone the finer ones
            would find: 60 ``mpii_val`` people pasted 30 to 60 % of the frame's height into the
            bundled clip's empty first frame, where the 0.8 grid shows at most 1 such joint, gave
            the 0.6 grid a confident person 141 times, and the 0.8 grid a trace of them in all but
            one. What it gives up: a person the large crops miss entirely is found only once they
            move (the motion cue looks there), not while standing still. On the bundled walker,
            empty for 37 frames, a fruitless search costs 8 crops instead of 26.
        search_refine: when the coarse search finds nobody, look again around this many of its
            most promising crops and the best crop of each size (8 neighbours each, a quarter crop
            away); 0 turns it off.
        motion: on videos, first look where the frame moved (a few crops) before searching it all.
        motion_trace: when a motion crop holds at least this many joints with support (a trace of
            someone, not yet a person) and either the last whole-frame search found nobody (someone
            coming into view) or the crop lies in the held crop of a confirmed person just lost
            (most likely that person, read weakly), the
            whole-frame search that falls due waits for the next period, at most ``max_deferrals``
            times in a row (something that moves and merely looks like a trace cannot hold the
            search off for long).
        max_deferrals: see ``motion_trace``.
        motion_gate: skip a whole-frame search when the scene has not changed since the last one
            that found nobody (it would find nobody again).
        sides: keep left and right consistent from frame to frame (a pose that mirrors the previous
            frame's is a swap, not a turn).
        side_votes: ... unless at least this many of the last ``side_window`` clear left/right
            decisions found the model mirroring the followed labelling: then the model's is taken
            (the followed one started from a mirrored frame). Larger than ``side_window`` turns it off.
        side_window: see ``side_votes``.
        detector: ``"search"`` (a batched multi-crop search through the pose model), ``"hog"``
            (OpenCV's HOG people detector; OpenCV 4.x only, it left the main package in 5.0),
            ``"hog+search"`` or ``"none"``.
    """

    joint_threshold: float | None = None
    min_joints: int = 7
    acquire_support: int = 11
    keep_joints: int = 4
    keep_support: int = 6
    max_weak_frames: int = 8
    support_fraction: float = 0.5
    well_seen: int = 12
    # Crop size.
    padding: float = 1.3
    shrink_rate: float = 0.03
    min_size_fraction: float = 0.2
    size_smoothing: float = 0.5
    weak_step: float = 0.1
    upright: float = 30.0
    upright_turn: float = 30.0
    # Losing and finding.
    hold_frames: int = 6
    confirm_frames: int = 5
    redetect_every: int = 10
    search_scales: tuple[float, ...] = (0.8, 0.6, 1.0)
    still_search_scales: tuple[float, ...] = (0.35, 0.2)
    search_refine: int = 2
    search_trace: int = 3
    detector: str = "search"
    # The motion cue; left and right.
    motion: bool = True
    motion_trace: int = 3
    max_deferrals: int = 2
    motion_gate: bool = True
    sides: bool = True
    side_votes: int = 5
    side_window: int = 8

    def __post_init__(self) -> None:
        kinds = set(self.detector.split("+"))
        if not kinds <= {"hog", "search", "none"}:
            raise ConfigError(f"unknown person detector {self.detector!r} (search, hog, hog+search, none)")
        if "hog" in kinds and not hog_available():
            raise ConfigError("the HOG people detector needs OpenCV 4.x (OpenCV 5 moved it out); use 'search'")
        if not 0.0 <= self.weak_step < 1.0:
            raise ConfigError(f"weak_step must be in [0, 1), got {self.weak_step}")
        if not 0.0 <= self.upright <= 180.0:
            raise ConfigError(f"upright must be 0 (off) to 180 degrees, got {self.upright}")
        if not 0.0 < self.upright_turn <= 180.0:
            raise ConfigError(f"upright_turn must be in (0, 180] degrees, got {self.upright_turn}")
        if not all(0.0 < f <= 1.0 for f in (*self.search_scales, *self.still_search_scales)) or not self.search_scales:
            raise ConfigError("search scales must be fractions in (0, 1] of the frame's short side")
        if self.side_votes < 1 or self.side_window < 1 or self.max_deferrals < 0 or self.motion_trace < 1 \
                or self.search_trace < 0:
            raise ConfigError("side_votes, side_window and motion_trace must be at least 1, and max_deferrals "
                              "and search_trace at least 0")


def tracker_config(upright: float | None = None) -> TrackerConfig:
    """The default tracker, with the lean that turns a crop set to ``upright`` when one is given
    (the ``--upright`` option of ``annotate`` and ``track-eval``; None keeps the default)."""
    return TrackerConfig() if upright is None else TrackerConfig(upright=upright)


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


def search_boxes(width: int, height: int, scales: Sequence[float] = TrackerConfig.search_scales) -> list[CropBox]:
    """Candidate crops for the multi-crop search: a sliding square at each scale (a fraction of the
    short side), half a crop apart."""
    boxes = []
    for frac in scales:
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


def _step_towards(current: CropBox, target: CropBox, step: float) -> CropBox:
    """``target``, with its centre at most ``step * current.size`` from ``current``'s and its side at
    most ``(1 + step)`` times ``current``'s (frame pixels)."""
    dx, dy = target.cx - current.cx, target.cy - current.cy
    dist = float(np.hypot(dx, dy))
    limit = step * current.size
    k = 1.0 if dist <= limit else limit / dist
    return CropBox(current.cx + k * dx, current.cy + k * dy, min(target.size, (1 + step) * current.size),
                   target.rotation)


def _contains(box: CropBox, x: float, y: float) -> bool:
    """Whether the point (x, y) in frame pixels lies in ``box`` (turned boxes: in its axes)."""
    # A one-pixel crop maps the box onto [-0.5, 0.5] in both crop axes, turn included.
    u, v = apply_affine(crop_matrix(box, 1), np.array([x, y]))
    return bool(max(abs(u), abs(v)) <= 0.5)


def _distinct(boxes: list[CropBox]) -> list[CropBox]:
    """``boxes`` without near-duplicates (centres and sides within a twentieth of the side), so that
    two motion regions of one person enlarged to one crop cost one model crop, not two."""
    out: list[CropBox] = []
    for b in boxes:
        if not any(abs(b.cx - o.cx) <= 0.05 * o.size and abs(b.cy - o.cy) <= 0.05 * o.size
                   and abs(b.size - o.size) <= 0.05 * o.size and b.rotation == o.rotation for o in out):
            out.append(b)
    return out


def _square_around(points: np.ndarray, padding: float, rotation: float = 0.0) -> CropBox:
    """Padded square around points (N, 2) in frame pixels, its sides along the crop's axes when it
    is turned by ``rotation`` degrees (see :func:`engine.crop.crop_matrix`)."""
    a = np.radians(rotation)
    to_crop = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])  # crop_matrix's turn
    uv = points @ to_crop.T
    (u0, v0), (u1, v1) = uv.min(axis=0), uv.max(axis=0)
    cx, cy = to_crop.T @ np.array([(u0 + u1) / 2, (v0 + v1) / 2])
    return CropBox(float(cx), float(cy), max(float(u1 - u0), float(v1 - v0), 1.0) * padding, rotation)


# estimate(boxes) -> (N, K, 3) keypoints; the tracker stays independent of the backend type.
EstimateFn = Callable[[Sequence[CropBox]], np.ndarray]


def pose_score(keypoints: np.ndarray, threshold: float) -> tuple[int, float]:
    """(number of joints at or above ``threshold``, mean confidence) of one pose (K, 3)."""
    conf = keypoints[:, 2]
    return int((conf >= threshold).sum()), float(conf.mean())


class PersonTracker:
    """Chooses the crop for each frame from the previous pose, re-acquiring the person when lost.

    States: ``central`` (the first guess), ``acquired`` (found by the search or the motion cue),
    ``tracking`` (placed from the previous pose) and ``lost``.
    """

    def __init__(self, config: TrackerConfig | None = None, default_threshold: float = 0.3,
                 skeleton: Skeleton | None = None, search_threshold: float | None = None) -> None:
        # Two calibrated thresholds, one for each way a crop is read: the pose crop's (with the
        # flip test when it is on) and the search crops' (never flipped; ModelMetadata.threshold_for).
        self.default_threshold = default_threshold
        self.default_search_threshold = default_threshold if search_threshold is None else search_threshold
        self.config = config or TrackerConfig()
        self.skeleton = skeleton or get_skeleton("lsp14")
        self.body = BodyModel(self.skeleton)
        self._flip = np.array(self.skeleton.flip_permutation())
        self.motion = MotionCue()
        self._hog: HogPeopleDetector | None = None
        self.search_crops = 0  # crops the person search (grid and motion) has run, for benchmarks
        self.searches_run = 0  # whole-frame searches run (each over as many of its scales as it needed)
        self.searches_skipped = 0  # whole-frame searches the static-scene gate skipped
        self.searches_deferred = 0  # whole-frame searches deferred while the motion cue saw a trace
        self.reset()

    @property
    def flip_permutation(self) -> np.ndarray:
        """(K,) int: the skeleton's left/right swap, joint i <- joint ``flip_permutation[i]``."""
        return self._flip

    @property
    def threshold(self) -> float:
        """The joint confidence threshold in force for the pose crop: the config's, else the model's."""
        t = self.config.joint_threshold
        return self.default_threshold if t is None else t

    @property
    def search_threshold(self) -> float:
        """The same for the person search's crops, which are read without the flip test."""
        t = self.config.joint_threshold
        return self.default_search_threshold if t is None else t

    def reset(self) -> None:
        """Forget the person and the scene (a new source)."""
        self.box: CropBox | None = None
        self.state = "init"
        self._lost_frames = 0
        self._since_search = 0  # frames since the last whole-frame search
        self._scale: float | None = None  # torso length of the followed person, frame pixels
        self._body_pose: np.ndarray | None = None  # last well-seen pose in torso units (K, 2)
        self._previous: np.ndarray | None = None  # the last tracked pose (K, 3), for left/right
        self._side_votes: list[bool] = []  # the last clear left/right decisions: True for a mirror
        self._confirmed = False  # the person followed has shown a confident pose or stayed a while
        self._tracked = 0  # frames the person has been followed since it was acquired
        self._weak_frames = 0  # frames in a row kept on support alone (fewer than keep_joints found)
        self._failed_gate: np.ndarray | None = None  # thumbnail of the last fruitless search
        self._deferred = 0  # whole-frame searches deferred in a row for a motion trace
        self._lean: float | None = None  # smoothed torso lean of the followed person, degrees
        self.sides_switched = False  # this frame's pose took the model's left/right over the followed one
        self.motion.reset()

    def is_confident(self, keypoints: np.ndarray) -> bool:
        return pose_score(keypoints, self.threshold)[0] >= self.config.min_joints

    def _counts(self, keypoints: np.ndarray, threshold: float | None = None) -> tuple[int, int]:
        """(joints found, joints with support) of one pose (K, 3), at ``threshold`` (default: the
        pose crop's)."""
        t = self.threshold if threshold is None else threshold
        conf = keypoints[:, 2]
        return int((conf >= t).sum()), int((conf >= self.config.support_fraction * t).sum())

    def _acquirable(self, keypoints: np.ndarray, min_joints: int, threshold: float | None = None) -> bool:
        found, support = self._counts(keypoints, threshold)
        return found >= min_joints or (support >= self.config.acquire_support and found >= self.config.keep_joints)

    def observe(self, frame: np.ndarray) -> None:
        """Show the tracker a frame it does not :meth:`propose` for (batched tracking), so the motion
        cue sees every frame."""
        if self.config.motion or self.config.motion_gate:
            self.motion.observe(frame)

    def propose(self, frame: np.ndarray, estimate: EstimateFn, still: bool = False) -> CropBox:
        """The crop to use on ``frame``; may look for the person (motion cue, model search) when lost.

        ``still``: ``frame`` is a still image. Its search accepts a person with as few joints found
        as tracking keeps (``keep_joints``, not ``min_joints``: a still has no next frame to confirm
        a person in, so its best guess is shown), and when it finds nobody it looks again with
        smaller crops (``still_search_scales``: a still has no motion cue).
        """
        h, w = frame.shape[:2]
        self.observe(frame)
        if self.state == "init" or self.box is None:
            # The paper's starting point; if nobody is there, the next frame searches.
            self.box, self.state = central_box(w, h), "central"
            return self.box
        if self.state == "lost":
            c = self.config
            found = self._acquire(frame, estimate, min(c.min_joints, c.keep_joints) if still else c.min_joints, still)
            if found is not None:
                self.box, self.state = found, "acquired"
        return self.box

    def update(self, frame_shape: tuple[int, ...], keypoints: np.ndarray) -> None:
        """Feed back the pose (K, 3) found in the proposed crop; sets the next frame's crop."""
        h, w = frame_shape[:2]
        c = self.config
        found, support = self._counts(keypoints)
        if self.state == "central":
            # The central crop is a guess: it needs a whole person, or a trace found and supported
            # well enough to follow (cheaper than searching the frame; a false find is unconfirmed
            # and soon searched away).
            keep = self._acquirable(keypoints, c.min_joints) or (found >= c.keep_joints and support >= c.keep_support)
        else:
            # A crop placed from the person's own earlier pose (acquired, tracking, or lost but not
            # moved yet) only needs a trace of it.
            seen = found >= max(2, c.keep_joints)
            # Support alone keeps a person through a few weak frames, but not for ever: a crop left
            # on a patch of foliage or glare after its person went keeps a trace of "someone" and
            # would hold off every search while the person walks elsewhere.
            self._weak_frames = 0 if seen else self._weak_frames + 1
            keep = seen or (support >= c.keep_support
                            and not (c.max_weak_frames and self._weak_frames > c.max_weak_frames))
        if not keep:
            self.state = "lost"
            self._lost_frames += 1
            self._previous = None
            self._side_votes = []
            return
        box = self._place(keypoints, (w, h), learn=True)
        if box is None:  # support, but not two joints of it: stay put
            box = self.box or central_box(w, h)
        if self.box is not None and self.state == "tracking":
            if found < c.min_joints and c.weak_step > 0:
                box = _step_towards(self.box, box, c.weak_step)
            if box.size < self.box.size:
                # Grow at once (a limb reaching out must not leave the crop), shrink smoothly.
                box = replace(box, size=c.size_smoothing * self.box.size + (1 - c.size_smoothing) * box.size)
        self.box = clamp_box(box, w, h)
        self.state = "tracking"
        self._tracked += 1
        # A person confirmed by a confident pose or by being followed for a while gets held on to.
        self._confirmed = self._confirmed or found >= c.min_joints or self._tracked >= c.confirm_frames
        self._lost_frames = self._since_search = 0
        self._previous = keypoints

    def consistent_sides(self, keypoints: np.ndarray) -> np.ndarray:
        """The pose (K, 3) with left and right swapped back when it mirrors the previous tracked pose.

        A person turning round changes little between two frames; a model mirroring the person (it
        does so on about one still in eight) flips every left/right joint at once. So when the
        swapped labelling sits much closer to the previous frame's joints than the given one, it is
        the swap that is undone. But the labelling followed is only as right as the frame it
        started from: when the model keeps answering the other way (``side_votes`` of the last
        ``side_window`` clear decisions), it is the followed labelling that was the mirror, and the
        model's is taken from then on.
        """
        prev = self._previous
        c = self.config
        self.sides_switched = False
        if not c.sides or prev is None or self._scale is None:
            return keypoints
        level = c.support_fraction * self.threshold
        paired = self._flip != np.arange(len(self._flip))
        both = paired & (keypoints[:, 2] >= level) & (prev[:, 2] >= level)
        both &= both[self._flip]
        if both.sum() < 4:
            return keypoints
        same = np.linalg.norm(keypoints[both, :2] - prev[both, :2], axis=1).mean()
        swapped = np.linalg.norm(keypoints[self._flip][both, :2] - prev[both, :2], axis=1).mean()
        # A clear decision either way: one labelling fits twice as well and the other is off by a
        # good part of a torso (side-on, left and right joints overlap and nothing is decided).
        mirrored = swapped < 0.5 * same and same > 0.25 * self._scale
        kept = same < 0.5 * swapped and swapped > 0.25 * self._scale
        if mirrored or kept:
            self._side_votes = [*self._side_votes, mirrored][-c.side_window:]
        if not mirrored:
            return keypoints
        if sum(self._side_votes) >= c.side_votes:
            self._side_votes = []  # the model's labelling wins; follow it
            self.sides_switched = True
            return keypoints
        return keypoints[self._flip]

    def _place(self, keypoints: np.ndarray, frame_size: tuple[int, int], learn: bool,
               threshold: float | None = None) -> CropBox | None:
        """The crop for the whole person of a pose (K, 3): its torso and head place a body pose
        whose extent, padded, is the crop. ``learn``: update the person's scale and body pose.
        ``threshold``: the one the pose was read at (default: the pose crop's)."""
        w, h = frame_size
        c = self.config
        t = self.threshold if threshold is None else threshold
        conf = keypoints[:, 2]
        found = conf >= t
        support = conf >= c.support_fraction * t
        lean = None if self._lean is None else np.radians(self._lean)
        down = None if lean is None else np.array([np.sin(lean), np.cos(lean)])
        torso = (self.body.torso(keypoints, found, self._scale, down)
                 or self.body.torso(keypoints, support, self._scale, down))
        if torso is None:
            good = keypoints[support, :2]
            if len(good) < 2:
                return None
            # No torso, no evidence of size: the crop moves onto the joints but keeps its size (or
            # the remembered person's: 3.15 torso lengths from head top to ankles).
            box = _square_around(good, c.padding, self._crop_rotation())
            floor = max(3.15 * c.padding * self._scale if self._scale else 0.0, self.box.size if self.box else 0.0)
            return replace(box, size=max(box.size, floor, c.min_size_fraction * min(w, h)))
        scale = torso.scale
        if self._scale is not None:
            if torso.measured:
                # Evidence of size: grow with it, shrink only a little a frame (a torso bending
                # towards the camera looks short for a moment; a person walking away shrinks slowly).
                scale = max(scale, (1 - c.shrink_rate) * self._scale) if scale < self._scale \
                    else 0.5 * (scale + self._scale)
            else:
                scale = max(scale, self._scale)  # no torso measured: no evidence to shrink on
        measured, torso = torso, replace(torso, scale=scale)
        n_found = int(found.sum())
        if learn:
            self._scale = scale
            if measured.measured and n_found >= c.well_seen and self.body.complete:
                # In units of this frame's own torso, not the smoothed one: while the person walks
                # away the smoothed scale lags above it, and the stored legs would come out short.
                self._body_pose = measured.to_body(keypoints[:, :2])
        # The joints with support stay where the model put them (on a weak frame most are right
        # even below the drawing threshold); the body pose places the rest.
        points = self.body.whole_body(keypoints, support, torso, self._body_pose)
        if learn and measured.measured:
            # From any torso with shoulders and hips, even one only at support level: a person
            # leaning far is exactly the one the model reads weakly in an unturned crop, and waiting
            # for a confident pose kept the crop unturned (and the person weak) for 15 frames.
            self._learn_lean(measured.down)
        box = _square_around(points, c.padding, self._crop_rotation())
        return replace(box, size=max(box.size, c.min_size_fraction * min(w, h)))

    def _learn_lean(self, down: np.ndarray) -> None:
        """Smooth in the lean (degrees) of a torso pointing ``down`` (unit (2,), hips minus
        shoulders, frame pixels): the crop rotation that would turn it upright."""
        angle = float(np.degrees(np.arctan2(down[0], down[1])))
        lean = self._lean
        self._lean = angle if lean is None else lean + 0.5 * ((angle - lean + 180.0) % 360.0 - 180.0)

    def _crop_rotation(self) -> float:
        """The crop's rotation (degrees): the person's lean, at most ``upright_turn`` either way,
        when ``upright`` is on and the lean reaches it, else 0 (the model learnt leans up to 30
        degrees and is best near upright)."""
        lean, upright = self._lean, self.config.upright
        if not upright or lean is None or abs(lean) < upright:
            return 0.0
        turn = self.config.upright_turn
        return float(np.clip(lean, -turn, turn))

    def _acquire(self, frame: np.ndarray, estimate: EstimateFn, min_joints: int, still: bool = False) -> CropBox | None:
        """Look for a person while lost: where the frame moved first, then (held off for a few frames
        after losing a tracked person, and every ``redetect_every`` frames) the whole frame."""
        h, w = frame.shape[:2]
        c = self.config
        self._lost_frames = max(1, self._lost_frames)
        if self._confirmed and self._lost_frames <= c.hold_frames:
            # Stay on the person followed: a few weak frames (blur, a turn, an occlusion) are not
            # a reason to look elsewhere, and the crop where it was is the best guess.
            return None
        candidates = self.motion.proposals() if c.motion else []
        trace = trace_on_lost = False
        if candidates:
            held = self.box if self._confirmed else None
            if held is not None:
                # Differencing marks the moving limbs, often only a part of the person: motion in
                # the crop where the confirmed person was lost is looked at with that crop's size
                # and turn. Motion elsewhere keeps its own size (someone else, maybe smaller).
                candidates = [replace(b, size=max(b.size, held.size), rotation=held.rotation)
                              if _contains(held, b.cx, b.cy) else b for b in candidates]
            boxes = _distinct([clamp_box(b, w, h) for b in candidates])
            poses = estimate(boxes)
            self.search_crops += len(boxes)
            t = self.search_threshold
            best = max(range(len(boxes)), key=lambda i: self._counts(poses[i], t))
            if self._acquirable(poses[best], min_joints, t):
                return self._acquired_box(poses[best], boxes[best], (w, h))
            trace = self._counts(poses[best], t)[1] >= c.motion_trace
            # The trace is where the confirmed person was lost: most likely that person, in a pose
            # the model reads weakly.
            trace_on_lost = trace and held is not None and _contains(held, boxes[best].cx, boxes[best].cy)
        self._since_search += 1
        if (self._since_search - 1) % max(1, c.redetect_every) != 0:
            return None
        if ((trace and self._failed_gate is not None) or trace_on_lost) and self._deferred < c.max_deferrals:
            # A trace of someone where the frame moves, and either the last whole-frame search
            # found nobody (a person entering at an edge is only partly visible for a few frames)
            # or the person followed was just lost there (an unusual pose the model reads weakly,
            # e.g. a runner bent flat on a treadmill): the motion crops follow them each frame, and
            # a whole-frame search now would mostly find the same part of them, at 20 crops' cost.
            self._deferred += 1
            self.searches_deferred += 1
            return None
        self._deferred = 0
        gate = self.motion.gate
        if c.motion_gate and gate is not None and self._failed_gate is not None \
                and not scene_changed(gate, self._failed_gate, self.motion.config.gate_change):
            self.searches_skipped += 1  # nothing changed since a search found nobody
            return None
        self.searches_run += 1
        found = self._detect(frame, estimate, min_joints, still)
        self._failed_gate = gate if found is None else None
        return found

    def _acquired_box(self, pose: np.ndarray, crop: CropBox, frame_size: tuple[int, int]) -> CropBox:
        """The crop for a person just found in ``crop``: its whole body, at least the finding crop's
        scale unless the body says otherwise (the joints found first are often the upper body)."""
        if not self._confirmed or self._lost_frames > self.config.hold_frames:
            # Possibly someone else: learn afresh (their size, pose and lean).
            self._scale, self._body_pose, self._confirmed, self._tracked = None, None, False, 0
            self._lean = None
        # Someone is in view: an earlier fruitless search no longer describes the scene (it must
        # not defer or gate the search after this person is lost).
        self._failed_gate, self._deferred, self._weak_frames = None, 0, 0
        self.box = crop  # the finding crop's size stands until a torso measures the person
        placed = self._place(pose, frame_size, learn=False, threshold=self.search_threshold)
        box = crop if placed is None else replace(placed, size=max(placed.size, crop.size))
        return clamp_box(box, *frame_size)

    def _detect(self, frame: np.ndarray, estimate: EstimateFn, min_joints: int, still: bool = False) -> CropBox | None:
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
            groups = [self.config.search_scales] + ([(f,) for f in self.config.still_search_scales] if still else [])
            for scales in groups:
                found = self._search(frame, estimate, min_joints, scales, still)
                if found is not None:
                    return found
        return None

    def _search(self, frame: np.ndarray, estimate: EstimateFn, min_joints: int,
                scales: Sequence[float], still: bool = False) -> CropBox | None:
        """Find a person with the model itself: a coarse grid of crops at each of ``scales`` in turn,
        stopping at the first scale whose grid holds a person; where none does but a trace of
        someone shows, the neighbourhoods of the most promising crops of all the grids run.

        In the default order (0.8, 0.6, 1.0 of the frame's short side) a person filling much of the
        frame costs the first grid's 8 crops instead of all 26 (1280x720 or 1080x1920). On video, a
        first grid without even a trace of anyone (``search_trace``) ends the search too: nobody is
        there (a still, with no motion cue to find a small person later, runs every grid).
        """
        h, w = frame.shape[:2]
        t = self.search_threshold
        boxes: list[CropBox] = []
        grids: list[np.ndarray] = []
        for k, frac in enumerate(scales):
            grid = search_boxes(w, h, (frac,))
            grids.append(estimate(grid))
            boxes += grid
            self.search_crops += len(grid)
            # The grid's most joints found and most with support, each over its crops.
            most_found, most_support = np.array([self._counts(p, t) for p in grids[-1]]).max(axis=0)
            # Only a confident person ends the search early: a trace with support (enough to acquire
            # when nothing better shows) is often a false person in a large crop (a treadmill's
            # belt, a reflection), and the finer grid may hold the real one.
            if most_found >= self.config.min_joints:
                break
            trace = self.config.search_trace
            if not still and trace and k == 0 and len(scales) > 1 and most_support < trace:
                return None  # nobody, not even a trace: the other grids would find nobody either
        poses = np.concatenate(grids)
        scores = [pose_score(p, t) for p in poses]
        if not any(self._acquirable(p, min_joints, t) for p in poses) and max(n for n, _ in scores) >= 2 \
                and self.config.search_refine > 0:
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
            self.search_crops += len(boxes)
            scores = [pose_score(p, t) for p in poses]
        best = max(range(len(boxes)), key=lambda i: (self._acquirable(poses[i], min_joints, t), scores[i]))
        if not self._acquirable(poses[best], min_joints, t):
            return None
        return self._acquired_box(poses[best], boxes[best], (w, h))
