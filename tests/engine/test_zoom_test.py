"""The zoom test: a crop read again zoomed in, its heatmaps resampled onto the crop's grid, its sides
matched to the crop's, and averaged in for the positions of the joints it sees
(``engine.decoding``, ``Backend.estimate(zoom=)``).

Geometry is checked on synthetic peaks with known answers and, end to end, on the blob scenes of
``gpu_fixtures`` (a stand-in network whose heatmaps peak on a bright blob, so the truth is known);
the pipeline's wiring on the bundled model and clip.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from gpu_fixtures import BLOB_META, BlobBackend, blob_scene, blob_truth_error
from test_decoding import gaussians

from engine.backends.base import zoomed_boxes
from engine.backends.registry import open_backend
from engine.crop import CropBox
from engine.decoding import decode_heatmaps, place_zoomed, sides_disagree, zoom_sees, zoom_to_crop
from engine.errors import ConfigError
from engine.pipeline import ZOOM_TEST, PipelineConfig, PosePipeline
from engine.skeleton import LSP14
from engine.sources import VideoSource

ZOOM = 0.85


def test_a_peak_seen_zoomed_in_lands_where_the_crop_sees_it() -> None:
    # Both crops share a centre: a point d heatmap pixels from the crop's centre is d / zoom from the
    # zoomed crop's, so a peak drawn there must come back at d.
    size = 64
    c = (size - 1) / 2
    where = np.random.default_rng(2).uniform(12, 52, (200, 2))
    seen_zoomed = gaussians(c + (where - c) / ZOOM, size=size, sigma=2.0)
    got = decode_heatmaps(zoom_to_crop(seen_zoomed, ZOOM))[:, 0, :2]
    assert np.abs(got - where).max() < 0.1


def test_resampling_matches_opencv_with_a_zero_border() -> None:
    size = 32
    c = (size - 1) / 2
    hm = np.random.default_rng(3).uniform(0, 1, (2, 3, size, size)).astype(np.float32)
    # OpenCV's inverse map: destination (crop) pixel u reads the zoomed crop at c + (u - c) / zoom.
    m = np.array([[1 / ZOOM, 0, c - c / ZOOM], [0, 1 / ZOOM, c - c / ZOOM]], np.float32)
    ref = np.stack([[cv2.warpAffine(ch, m, (size, size), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                    borderMode=cv2.BORDER_CONSTANT, borderValue=0) for ch in person]
                    for person in hm])
    np.testing.assert_allclose(zoom_to_crop(hm, ZOOM), ref, atol=1e-4)


def test_zoom_sees_the_central_part_of_the_crop() -> None:
    # 64 px heatmaps zoomed to 0.5 reach 15.75 px from the centre (31.5); a pixel of margin leaves
    # 14.75: 46.25 is in, 46.5 is out, on either axis and either side.
    points = np.array([[31.5, 31.5], [46.25, 31.5], [46.5, 31.5], [31.5, 16.75], [31.5, 16.5], [2.0, 60.0]])
    assert zoom_sees(points, 0.5, 64).tolist() == [True, True, False, True, False, False]


def test_a_foot_beyond_the_zoomed_view_keeps_the_crops_own_place() -> None:
    # The crop reads a foot near its edge (peak 1.0) and a weaker blur inside (0.6), which the zoomed
    # crop, whose view ends before the foot, reads as well. The mean of the two reads halves the foot
    # to 0.5 and peaks on the blur; the foot must stay where the crop saw it.
    size = 64
    foot, blur = np.array([[61.0, 32.0]]), np.array([[32.0, 30.0]])
    own_heat = np.maximum(gaussians(foot, size, 1.5), 0.6 * gaussians(blur, size, 1.5))
    c = (size - 1) / 2
    zoomed = zoom_to_crop(0.6 * gaussians(c + (blur - c) / ZOOM, size, 1.5 / ZOOM), ZOOM)
    own = decode_heatmaps(own_heat)[..., :2]
    both = decode_heatmaps(0.5 * (own_heat + zoomed))[..., :2]
    assert np.linalg.norm(both[0, 0] - blur[0]) < 1.0  # what the plain mean does
    np.testing.assert_array_equal(place_zoomed(own, both, ZOOM, size), own)
    # Inside the zoomed view, the mean's peak is taken.
    inside = own + np.array([[[-20.0, 0.0]]], np.float32)
    np.testing.assert_array_equal(place_zoomed(inside, both, ZOOM, size), both)


def test_a_second_read_labelled_the_other_way_round_is_recognised() -> None:
    perm = LSP14.flip_permutation()
    rng = np.random.default_rng(5)
    own = rng.uniform(0, 64, (4, 14, 2))
    other = own + rng.normal(0, 0.5, own.shape)
    other[[1, 3]] = other[[1, 3]][:, perm]  # the second and fourth person read mirrored
    judged = np.ones((4, 14), bool)
    assert sides_disagree(own, other, perm, judged).tolist() == [False, True, False, True]
    # Only joints judged on both sides count: a second read that agrees everywhere but has the ankles
    # (far apart, and beyond the zoomed view) the other way round is no swap once they are not judged.
    ankles = [LSP14.joints.index("R ankle"), LSP14.joints.index("L ankle")]
    wide = own.copy()
    wide[:, ankles] = [[0.0, 0.0], [1000.0, 0.0]]
    fake = wide + rng.normal(0, 0.5, own.shape)
    fake[:, ankles] = wide[:, ankles[::-1]]
    assert sides_disagree(wide, fake, perm, judged).tolist() == [True] * 4  # what counting them does
    seen = judged.copy()
    seen[:, ankles] = False
    assert sides_disagree(wide, fake, perm, seen).tolist() == [False] * 4
    few = np.zeros((4, 14), bool)
    few[:, [LSP14.joints.index("R wrist"), LSP14.joints.index("L wrist")]] = True
    assert sides_disagree(own, other, perm, few).tolist() == [False] * 4


def test_zoomed_boxes_keep_centre_and_turn() -> None:
    box = CropBox(100.0, 50.0, 200.0, 20.0)
    assert zoomed_boxes([box], 0.85) == [CropBox(100.0, 50.0, 170.0, 20.0)]
    with pytest.raises(ConfigError, match="zoom"):
        zoomed_boxes([box], 0.0)


@pytest.mark.parametrize("flip", [False, True])
def test_the_zoom_test_finds_the_truth_and_keeps_the_crops_confidence(flip: bool) -> None:
    # Turned and off-centre boxes around known blobs: the merged positions are as right as a single
    # read's, and the confidences are exactly the crop's own read.
    frames, boxes, truth = blob_scene()
    backend = BlobBackend(Path("blob"), BLOB_META)
    alone = backend.estimate(frames, boxes, flip=flip)
    zoomed = backend.estimate(frames, boxes, flip=flip, zoom=ZOOM)
    assert zoomed.shape == alone.shape and zoomed.dtype == np.float32
    assert blob_truth_error(zoomed, truth, boxes) < 0.05
    np.testing.assert_array_equal(zoomed[..., 2], alone[..., 2])
    # And a caller can have the crops' own positions as well.
    own = np.full((len(boxes), 14, 2), np.nan)
    backend.estimate(frames, boxes, flip=flip, zoom=ZOOM, unzoomed=own)
    np.testing.assert_allclose(own, alone[..., :2], atol=1e-4)


class CountingBlobs(BlobBackend):
    """Records the batch size of every network call."""

    def __init__(self) -> None:
        super().__init__(Path("blob"), BLOB_META)
        self.batches: list[int] = []

    def infer(self, batch: np.ndarray) -> np.ndarray:
        self.batches.append(len(batch))
        return super().infer(batch)


def test_a_zoomed_crop_is_read_mirrored_where_its_crop_was() -> None:
    frames, boxes, _ = blob_scene()
    marked = np.zeros(len(boxes), bool)
    marked[[1, 4, 7]] = True
    backend = CountingBlobs()
    backend.estimate(frames, boxes, unsure=lambda poses: marked, zoom=ZOOM)
    assert backend.batches == [9, 3, 9, 3]  # crops, the unsure ones mirrored, zoomed, those mirrored
    backend.batches.clear()
    backend.estimate(frames, boxes, flip=True, zoom=ZOOM)
    assert backend.batches == [18, 18]


class MirroringTwice(BlobBackend):
    """A stand-in network that reads a fixed pose: joint k's peak at ``POSE[k]`` in the crop's
    heatmap pixels (left joints on one side, right on the other). Its second call, the zoomed crop,
    labels the person the other way round, as the real model sometimes does."""

    def __init__(self, pose: np.ndarray) -> None:
        super().__init__(Path("blob"), BLOB_META)
        self.pose, self.calls = pose, 0

    def infer(self, batch: np.ndarray) -> np.ndarray:
        size = BLOB_META.heatmap_size
        c = (size - 1) / 2
        self.calls += 1
        where = self.pose if self.calls == 1 else (c + (self.pose - c) / ZOOM)[list(LSP14.flip_permutation())]
        return np.repeat(gaussians(where, size, 1.0)[:, 0][None], len(batch), axis=0)


def two_sided_pose() -> tuple[np.ndarray, np.ndarray, CropBox]:
    """A fixed pose for :class:`MirroringTwice` (left joints on the left of the crop, right ones on
    the right, all within the zoomed view), a blank frame and the crop."""
    size = BLOB_META.heatmap_size
    pose = np.random.default_rng(6).uniform(5, 10, (14, 2))
    right = [i for i, n in enumerate(LSP14.joints) if n.startswith("R ")]
    pose[right, 0] = size - 1 - pose[right, 0]
    return pose, np.zeros((200, 200, 3), np.uint8), CropBox(100.0, 100.0, 64.0)


def test_a_zoomed_read_labelled_the_other_way_round_is_matched_before_averaging() -> None:
    # Without matching its sides, each joint's averaged heatmap has two equal peaks, its own and its
    # mirror twin's, and the pose comes out with both wrists on one side.
    pose, frame, box = two_sided_pose()
    alone = MirroringTwice(pose).estimate([frame], [box])
    got = MirroringTwice(pose).estimate([frame], [box], zoom=ZOOM)
    np.testing.assert_allclose(got, alone, atol=0.25)  # frame pixels; a swap moves a joint by ~40


class ZoomSpy:
    """Wraps a backend and records each estimate call as (number of crops, zoom)."""

    def __init__(self, backend) -> None:
        self.backend, self.calls = backend, []

    def __getattr__(self, name: str):
        return getattr(self.backend, name)

    def estimate(self, frames, boxes, flip=False, timer=None, unsure=None, zoom=None, unzoomed=None):
        self.calls.append((len(boxes), zoom))
        return self.backend.estimate(frames, boxes, flip=flip, timer=timer, unsure=unsure, zoom=zoom,
                                     unzoomed=unzoomed)


def test_the_pipeline_zooms_pose_crops_not_the_person_search(bundled_model: Path, bundled_clip: Path) -> None:
    frame = next(f.image for f in VideoSource(bundled_clip) if f.index == 200)  # off centre: a search
    with open_backend(bundled_model, "onnxruntime") as backend:
        spy = ZoomSpy(backend)
        pipeline = PosePipeline(spy, PipelineConfig(flip_test=True, zoom_test=True))  # type: ignore[arg-type]
        result = pipeline.process_image(frame, 200)
        searches = [zoom for n, zoom in spy.calls if n > 1]
        poses = [zoom for n, zoom in spy.calls if n == 1]
        assert searches and all(z is None for z in searches), spy.calls
        assert poses and all(z == ZOOM_TEST for z in poses), spy.calls
        # Each pose crop counts four reads: itself, zoomed, and both mirrored.
        assert pipeline.pose_crops == 4 * len(poses)
        zoomed = backend.estimate([frame], [result.box], flip=True, zoom=ZOOM_TEST)[0]
        alone = backend.estimate([frame], [result.box], flip=True)[0]
    np.testing.assert_array_equal(result.keypoints, zoomed)
    np.testing.assert_array_equal(zoomed[:, 2], alone[:, 2])  # the same joints drawn
    # The walker's joints move by at most a few pixels (her torso is ~100 px), not to elsewhere.
    assert 0 < np.abs(zoomed[:, :2] - alone[:, :2]).max() < 15


def test_the_zoom_test_changes_what_is_shown_not_whom_the_tracker_follows(bundled_model: Path,
                                                                          bundled_clip: Path) -> None:
    # The tracker places each next crop from the crop's own read, so a run with the zoom test looks
    # at exactly the crops of a run without it, and only the poses it reports differ.
    with open_backend(bundled_model, "onnxruntime") as backend:
        runs = []
        for zoom_test in (False, True):
            pipeline = PosePipeline(backend, PipelineConfig(flip_test=True, zoom_test=zoom_test))
            runs.append([pipeline.process(f.image, f.index, f.timestamp)
                         for f in VideoSource(bundled_clip) if 30 <= f.index < 70])
    plain, zoomed = runs
    assert [r.box for r in plain] == [r.box for r in zoomed]
    assert [r.state for r in plain] == [r.state for r in zoomed]
    np.testing.assert_allclose([r.keypoints[:, 2] for r in plain], [r.keypoints[:, 2] for r in zoomed], atol=1e-6)
    moved = np.abs(np.array([r.keypoints[:, :2] for r in plain]) - np.array([r.keypoints[:, :2] for r in zoomed]))
    assert moved.max() > 1.0  # the walker's joints are placed differently, by pixels
