"""Frame -> pose: choose the person crop, run the model, map back to frame pixels, smooth.

Coordinates in a :class:`PoseResult` are frame pixels (x right, y down, pixel centres on
integers); confidences are heatmap peaks in [0, 1].
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from engine.backends.base import Backend
from engine.crop import CropBox
from engine.flip_modes import check_flip_mode
from engine.roi import PersonTracker, TrackerConfig, pose_score
from engine.smoothing import OneEuroConfig, OneEuroFilter, ScoreFilter, ScoreSmoothing
from engine.timing import StageTimer

# The zoom test's second crop, as a fraction of the pose crop's side (PipelineConfig.zoom_test). The
# tracker pads the whole body by 1.3 and training crops vary in scale by 0.75-1.25, so a crop a
# little tighter is read about as surely and differently enough to be worth averaging: on the
# tracker's own crops of the reference clips, read again zoomed to 0.85 / 0.9 / 0.8, PCK of every
# position rose 0.857 -> 0.880 / 0.874 / 0.879, and zoomed to 1.2 (out) fell to 0.850.
ZOOM_TEST = 0.85

# The crop's filter, in pixel speeds (see PipelineConfig.crop_smoothing).
CROP_SMOOTHING = OneEuroConfig(min_cutoff=1.5, beta=0.01)


@dataclass(frozen=True)
class PipelineConfig:
    """Per-run options: flip test, temporal smoothing and person tracking.

    Attributes:
        flip_test: average each pose with the mirrored crop's.
        flip_when_unsure: with ``flip_test`` off, a pose crop whose plain read is not confident
            (fewer than the tracker's ``min_joints`` at the pose crop's threshold) is read mirrored
            as well and averaged, as the flip test would; the others cost one read. On the five
            reference clips (``hgpose track-eval --flip unsure``, stage 20, INT8, with the person
            search before it ran its largest crops first: 4 runs a clip) it found the person
            about as often as the flip test on every crop (mean 0.942 against 0.951; off: 0.916)
            and drew as many right joints (PCK drawn 0.836 against 0.834; off: 0.793), for 1 to
            27 % more crops instead of 100 %. Its scores are judged at the plain threshold, as the
            rest of the run's.
        zoom_test: read each pose crop a second time zoomed in to :data:`ZOOM_TEST` of its side, the
            same way (flip test and all), and average the two heatmaps for the positions of the
            joints both crops see (:meth:`engine.backends.base.Backend.estimate`). The confidences,
            and so what is drawn, stay the crop's own, and the tracker places its next crop from the
            crop's own read: the zoom test changes what is shown, never what is followed. Twice the
            pose crops; on the five reference clips PCK of every position rose 0.901 -> 0.916 with
            the flip test (README, "The zoom test").
        smoothing: the One Euro filter of the pose the caller gets (speeds in crop sides a second);
            ``smoothing.enabled`` also turns the score filter on and off.
        scores: the filter of the joint confidences the caller gets (what is drawn): a reading
            rises fast and falls more slowly, so a joint seen a moment ago is not dropped at once.
        crop_smoothing: the One Euro filter of the pose the tracker places the next crop from
            (speeds in pixels a second: 1.5 Hz, 0.01 per px/s, what the tracker's rules were tuned
            with). The two differ on purpose: a crop wants to be steady (it is padded, so lag costs
            nothing, while a crop that jitters makes the model jitter), and a pose shown or exported
            wants to be on time. On the reference clips the steady crop and the prompt pose scored
            3 to 8 points of PCK above one filter doing both, with the same crops.
        tracker: person tracking.
    """

    flip_test: bool = False
    flip_when_unsure: bool = False
    zoom_test: bool = False
    smoothing: OneEuroConfig = field(default_factory=OneEuroConfig)
    scores: ScoreSmoothing = field(default_factory=ScoreSmoothing)
    crop_smoothing: OneEuroConfig = CROP_SMOOTHING
    tracker: TrackerConfig = field(default_factory=TrackerConfig)

    @property
    def flip_mode(self) -> str:
        """``on``, ``unsure`` or ``off`` (:data:`engine.flip_modes.FLIP_MODES`)."""
        return "on" if self.flip_test else "unsure" if self.flip_when_unsure else "off"

    def with_flip(self, mode: str) -> PipelineConfig:
        """This config with the flip settings of ``mode`` (:data:`engine.flip_modes.FLIP_MODES`)."""
        check_flip_mode(mode)
        return replace(self, flip_test=mode == "on", flip_when_unsure=mode == "unsure")


@dataclass(frozen=True)
class PoseResult:
    """One frame's pose.

    Attributes:
        frame_index: 0-based index of the frame in its source.
        timestamp: seconds from the start of the source.
        keypoints: (K, 3) float32: x, y in frame pixels, confidence.
        box: the crop the model looked at (frame pixels).
        state: tracker state: ``central``, ``acquired``, ``tracking`` or ``lost``.
        confident: whether enough joints were found to trust the pose.
        timings_ms: milliseconds per stage (``track``, ``preprocess``, ``infer``, ``decode-heatmaps``,
            ``smooth``, ``total``).
    """

    frame_index: int
    timestamp: float
    keypoints: np.ndarray
    box: CropBox
    state: str
    confident: bool
    timings_ms: dict[str, float]


class PosePipeline:
    """Stateful per-source pipeline: call :meth:`process` on consecutive frames of one video or
    camera, :meth:`process_image` on unrelated stills, and :meth:`reset` when the source changes."""

    def __init__(self, backend: Backend, config: PipelineConfig | None = None) -> None:
        self.backend = backend
        self.config = config or PipelineConfig()
        meta = backend.metadata
        self.tracker = PersonTracker(self.config.tracker, meta.threshold_for(self.config.flip_test),
                                     meta.skeleton_spec, search_threshold=meta.threshold_for(False))
        self.filter = OneEuroFilter(self.config.smoothing)
        self.crop_filter = OneEuroFilter(self.config.crop_smoothing)
        self.score_filter = ScoreFilter(self.config.scores)
        self.pose_crops = 0  # crops run for the pose itself (a flipped crop counts), for benchmarks
        self.unsure_reads = 0  # pose crops read mirrored as well because their plain read was unsure

    def _filters(self) -> tuple[OneEuroFilter, OneEuroFilter, ScoreFilter]:
        return self.filter, self.crop_filter, self.score_filter

    def reset(self) -> None:
        self.tracker.reset()
        for f in self._filters():
            f.reset()

    def reconfigure(self, config: PipelineConfig) -> None:
        """Apply new options (e.g. from UI toggles) without losing the tracked person."""
        self.config = config
        self.tracker.config = config.tracker
        self.tracker.default_threshold = self.backend.metadata.threshold_for(config.flip_test)
        # A filter whose settings did not change keeps its history (toggling the flip test must not
        # restart the smoothing); one whose settings changed starts afresh.
        if config.smoothing != self.filter.config:
            self.filter = OneEuroFilter(config.smoothing)
        if config.scores != self.score_filter.config:
            self.score_filter = ScoreFilter(config.scores)
        if config.crop_smoothing != self.crop_filter.config:
            self.crop_filter = OneEuroFilter(config.crop_smoothing)

    def _estimate(self, frame: np.ndarray, boxes: Sequence[CropBox], timer: StageTimer, flip: bool) -> np.ndarray:
        return self.backend.estimate([frame] * len(boxes), boxes, flip=flip, timer=timer)

    def _read_poses(self, frames: Sequence[np.ndarray], box: CropBox,
                    timer: StageTimer) -> tuple[np.ndarray, np.ndarray]:
        """The (N, K, 3) poses of ``box`` in each frame, read as the flip and zoom settings say, and
        the (N, K, 2) positions the tracker places its next crop from: the crop's own read, also
        with the zoom test (see :attr:`PipelineConfig.zoom_test`). Counts the crops run."""
        flip = self.config.flip_test
        zoom = ZOOM_TEST if self.config.zoom_test else None
        self.pose_crops += len(frames) * (2 if flip else 1) * (2 if zoom else 1)
        boxes = [box] * len(frames)
        unsure = None if flip or not self.config.flip_when_unsure else self._unsure
        if zoom is None:
            poses = self.backend.estimate(frames, boxes, flip=flip, timer=timer, unsure=unsure)
            return poses, poses[..., :2]
        own = np.empty((len(frames), self.backend.metadata.config.num_joints, 2), dtype=np.float32)
        poses = self.backend.estimate(frames, boxes, flip=flip, timer=timer, unsure=unsure, zoom=zoom, unzoomed=own)
        return poses, own

    def _unsure(self, poses: np.ndarray) -> np.ndarray:
        """(N,) True where a pose (N, K, 3) read alone is not confident: fewer than the tracker's
        ``min_joints`` joints at the pose crop's threshold (:meth:`PersonTracker.is_confident`), so
        it is worth the mirrored read."""
        unsure = np.array([not self.tracker.is_confident(pose) for pose in poses], dtype=bool)
        self.unsure_reads += int(unsure.sum())
        # The zoom test reads an unsure crop's zoomed twin mirrored as well.
        self.pose_crops += int(unsure.sum()) * (2 if self.config.zoom_test else 1)
        return unsure

    def process(self, frame: np.ndarray, frame_index: int = 0, timestamp: float | None = None,
                smooth: bool = True) -> PoseResult:
        """Pose of the tracked person in a (H, W, 3) uint8 BGR frame."""
        return self._process(frame, frame_index, timestamp, smooth)

    def _process(self, frame: np.ndarray, frame_index: int, timestamp: float | None, smooth: bool,
                 still: bool = False) -> PoseResult:
        t0 = time.perf_counter()
        timer = StageTimer()
        search_timer = StageTimer()  # the model search is part of tracking, not of this frame's infer
        with timer.stage("track"):
            before = self.tracker.state
            # The search only has to tell where someone is, so it skips the flip test: doubling
            # its many crops would buy nothing the final crop's flip test does not.
            box = self.tracker.propose(frame, lambda boxes: self._estimate(frame, boxes, search_timer, flip=False),
                                       still)
        poses, crop_points = self._read_poses([frame], box, timer)
        if self.tracker.state == "acquired" and before != "tracking":
            for f in self._filters():
                f.reset()  # a jump to a new place must not be smoothed over
        filter_time = timestamp if timestamp is not None else frame_index / 30.0
        result = self._conclude(frame.shape, frame_index, float(timestamp if timestamp is not None else 0.0),
                                filter_time, poses[0], crop_points[0], box, smooth, timer)
        timer.ms["total"] = (time.perf_counter() - t0) * 1000.0
        return result

    def _conclude(self, frame_shape: tuple[int, ...], index: int, timestamp: float, filter_time: float,
                  keypoints: np.ndarray, crop_points: np.ndarray, box: CropBox, smooth: bool,
                  timer: StageTimer) -> PoseResult:
        """Smooth one frame's keypoints (K, 3) for the caller (positions and scores) and the
        positions (K, 2) the tracker places its next crop from (see :class:`PipelineConfig`; the
        same positions unless the zoom test is on), and package the result."""
        state = self.tracker.state
        # Left and right trade labels in both together (a row permutation of (K, 5)), decided on the
        # crop's own positions, so that the zoom test never changes what the tracker does.
        rows = self.tracker.consistent_sides(np.concatenate([crop_points, keypoints[:, 2:], keypoints[:, :2]], axis=1))
        crop_points, keypoints = rows[:, :2], rows[:, [3, 4, 2]]
        if self.tracker.sides_switched:
            # The model's left/right labelling replaces the one followed: the same points trade
            # labels, so their smoothing histories trade rows too (rather than blend the two sides).
            for f in self._filters():
                f.permute(self.tracker.flip_permutation)
        confident = self.tracker.is_confident(keypoints)
        for_crop = np.concatenate([crop_points, keypoints[:, 2:]], axis=1)
        with timer.stage("smooth"):
            if smooth:  # False for stills: nothing to smooth over
                for_crop[:, :2] = self.crop_filter(crop_points, filter_time)
            if smooth and self.config.smoothing.enabled:
                keypoints = keypoints.copy()
                keypoints[:, :2] = self.filter(keypoints[:, :2], filter_time, scale=box.size)
                keypoints[:, 2] = self.score_filter(keypoints[:, 2], filter_time)
        self.tracker.update(frame_shape, for_crop)
        return PoseResult(index, timestamp, keypoints.astype(np.float32), box, state, confident, timer.ms)

    def process_batch(self, frames: Sequence[np.ndarray], indices: Sequence[int],
                      timestamps: Sequence[float]) -> list[PoseResult]:
        """Poses for consecutive frames, batched through the backend while the person is tracked.

        Within a batch every frame uses the crop chosen from the pose before the batch: at video
        rates a person moves a few pixels per frame and the crop is padded, while one batched call
        keeps a GPU busy. Frames where the person is not tracked fall back to :meth:`process`.
        Timings are the batch's, divided evenly among its frames.
        """
        results: list[PoseResult] = []
        i = 0
        while i < len(frames):
            if self.tracker.state != "tracking" or self.tracker.box is None or len(frames) - i == 1:
                results.append(self.process(frames[i], indices[i], timestamps[i]))
                i += 1
                continue
            t0 = time.perf_counter()
            timer = StageTimer()
            box = self.tracker.box
            chunk = range(i, len(frames))
            poses, crop_points = self._read_poses([frames[j] for j in chunk], box, timer)
            share = {k: v / len(chunk) for k, v in timer.ms.items()}
            for j, keypoints, points in zip(chunk, poses, crop_points, strict=True):
                self.tracker.observe(frames[j])  # the motion cue sees every frame
                frame_timer = StageTimer()
                frame_timer.ms.update(share)
                results.append(self._conclude(frames[j].shape, indices[j], float(timestamps[j]), timestamps[j],
                                              keypoints, points, box, True, frame_timer))
                frame_timer.ms["total"] = (time.perf_counter() - t0) * 1000.0 / len(chunk)
            i = len(frames)
        return results

    def process_image(self, image: np.ndarray, index: int = 0) -> PoseResult:
        """Pose in an unrelated still image (no smoothing, nothing carried over from earlier frames).

        A video gets several frames to find its person; a still gets the same steps at once: the
        central crop; when that holds no confident person, the multi-crop person search, as a still
        searches (:meth:`PersonTracker.propose` with ``still``); then one more pass on the crop the
        pose itself implies (the tracker's next crop), kept when it finds at least as much.
        ``confident`` still tells whether to trust the pose, by the usual bar.
        """
        self.reset()
        passes = [self.process(image, frame_index=index, timestamp=0.0, smooth=False)]
        result = passes[0]
        if self.tracker.state == "lost":
            passes.append(self._process(image, index, 0.0, False, still=True))
            if passes[-1].state == "acquired":
                result = passes[-1]  # else nobody anywhere: the search kept the central crop
        if result.state != "lost" and self.tracker.state == "tracking":
            passes.append(self.process(image, frame_index=index, timestamp=0.0, smooth=False))
            threshold = self.tracker.threshold
            if pose_score(passes[-1].keypoints, threshold) >= pose_score(result.keypoints, threshold):
                result = passes[-1]
        # The still cost every pass.
        timings = {k: sum(r.timings_ms.get(k, 0.0) for r in passes) for k in result.timings_ms}
        return replace(result, timings_ms=timings)
