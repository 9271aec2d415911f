import numpy as np
import pytest

from engine.crop import CropBox
from engine.errors import ConfigError
from engine.roi import PersonTracker, TrackerConfig, clamp_box, hog_available, search_boxes


def test_clamped_boxes_stay_inside_the_frame() -> None:
    for box in [CropBox(-50, 20, 300), CropBox(1270, 700, 200), CropBox(640, 360, 5000)]:
        c = clamp_box(box, 1280, 720)
        x0, y0, x1, y1 = c.xyxy
        assert x0 >= -0.5 - 1e-9 and y0 >= -0.5 - 1e-9 and x1 <= 1279.5 + 1e-9 and y1 <= 719.5 + 1e-9


def test_search_boxes_cover_the_frame() -> None:
    boxes = search_boxes(1280, 720)
    xs = [b.xyxy for b in boxes]
    # The frame's pixels span [-0.5, W - 0.5] (centres on integers): the crops reach both edges ...
    assert min(b[0] for b in xs) == pytest.approx(-0.5) and max(b[2] for b in xs) == pytest.approx(1279.5)
    assert min(b[1] for b in xs) == pytest.approx(-0.5) and max(b[3] for b in xs) == pytest.approx(719.5)
    # ... and none sample outside it.
    for b in boxes:
        c = clamp_box(b, 1280, 720)
        assert (c.cx, c.cy, c.size) == pytest.approx((b.cx, b.cy, b.size))
    assert len({b.size for b in boxes}) == 2


def fake_pose(box: CropBox, person_x: float, conf_inside: float = 0.9) -> np.ndarray:
    """A pose (14, 3) that is confident only when the crop contains the person at ``person_x``."""
    x0, _, x1, _ = box.xyxy
    inside = x0 <= person_x <= x1
    kp = np.zeros((14, 3), np.float32)
    kp[:, 0] = person_x + np.linspace(-20, 20, 14)
    kp[:, 1] = 360 + np.linspace(-150, 150, 14)
    kp[:, 2] = conf_inside if inside else 0.05
    return kp


def test_tracker_starts_central_then_searches_then_follows() -> None:
    tracker = PersonTracker(TrackerConfig(detector="search"))
    frame = np.zeros((720, 1280, 3), np.uint8)
    person_x = 1150.0

    def estimate(boxes: list[CropBox]) -> np.ndarray:
        return np.stack([fake_pose(b, person_x) for b in boxes])

    box = tracker.propose(frame, estimate)
    assert tracker.state == "central" and abs(box.cx - 639.5) < 1e-6
    tracker.update(frame.shape, fake_pose(box, person_x))  # the person is not in the central crop
    assert tracker.state == "lost"
    box = tracker.propose(frame, estimate)
    assert tracker.state == "acquired" and box.xyxy[0] <= person_x <= box.xyxy[2]
    for step in range(20):  # the person walks left; the crop follows the keypoints
        person_x -= 15
        tracker.update(frame.shape, fake_pose(box, person_x))
        box = tracker.propose(frame, estimate)
        assert tracker.state == "tracking", step
        assert box.xyxy[0] <= person_x <= box.xyxy[2]


def test_detector_names_are_validated() -> None:
    with pytest.raises(ConfigError):
        TrackerConfig(detector="yolo")
    if not hog_available():
        with pytest.raises(ConfigError, match="OpenCV 4"):
            TrackerConfig(detector="hog")


def test_tracker_threshold_defaults_to_the_models() -> None:
    assert PersonTracker(TrackerConfig(), default_threshold=0.12).threshold == 0.12
    assert PersonTracker(TrackerConfig(joint_threshold=0.5), default_threshold=0.12).threshold == 0.5


def test_hysteresis_keeps_a_partly_visible_person_and_remembers_its_size() -> None:
    tracker = PersonTracker(TrackerConfig(min_joints=7, keep_joints=4, max_shrink=0.85), default_threshold=0.3)
    frame = np.zeros((720, 1280, 3), np.uint8)
    tracker.propose(frame, lambda boxes: np.zeros((len(boxes), 14, 3), np.float32))
    full = fake_pose(CropBox(600, 360, 720), 600.0)
    tracker.update(frame.shape, full)
    assert tracker.state == "tracking"
    size = tracker.box.size
    partial = full.copy()
    partial[5:, 2] = 0.05  # only 5 joints stay confident, bunched together
    partial[:5, 1] = 300 + np.arange(5)
    tracker.update(frame.shape, partial)
    assert tracker.state == "tracking"  # 5 >= keep_joints: still the same person
    assert tracker.box.size >= 0.85 * size - 1e-6  # the crop does not collapse onto 5 joints
    partial[:2, 2] = 0.05  # 3 joints: below keep_joints
    tracker.update(frame.shape, partial)
    assert tracker.state == "lost"
    # Lost but with the crop still on the person, 5 joints resume tracking...
    five = np.where(np.arange(14)[:, None] < 5, full, full * [1, 1, 0]).astype(np.float32)
    tracker.update(frame.shape, five)
    assert tracker.state == "tracking"
    # ...while the central crop, a mere guess, needs min_joints.
    fresh = PersonTracker(TrackerConfig(min_joints=7, keep_joints=4), default_threshold=0.3)
    fresh.propose(frame, lambda boxes: np.zeros((len(boxes), 14, 3), np.float32))
    fresh.update(frame.shape, five)
    assert fresh.state == "lost"


def centred_only_pose(box: CropBox, person: tuple[float, float]) -> np.ndarray:
    """Like a single-person model: a full pose only when the person is near the crop's centre, a
    trace of one (3 joints) when off-centre but inside, nothing otherwise."""
    dist = abs(box.cx - person[0]) + abs(box.cy - person[1])
    found = 14 if dist < box.size / 8 else 3 if dist < box.size / 3 else 0
    kp = np.zeros((14, 3), np.float32)
    kp[:, 0] = person[0] + np.linspace(-20, 20, 14)
    kp[:, 1] = person[1] + np.linspace(-100, 100, 14)
    kp[:, 2] = 0.05
    kp[:found, 2] = 0.9
    return kp


@pytest.mark.parametrize(("refine", "found"), [(3, True), (0, False)])
def test_search_looks_again_around_promising_crops(refine: int, found: bool) -> None:
    # x = 500 lies between the coarse grid's crop centres (359.5, 639.5 at 720 px; 427.5, 639.5 at
    # 432 px), too far from each for a full pose; a neighbour a quarter crop away centres it.
    person = (500.0, 360.0)
    frame = np.zeros((720, 1280, 3), np.uint8)
    calls: list[int] = []

    def estimate(boxes: list[CropBox]) -> np.ndarray:
        calls.append(len(boxes))
        return np.stack([centred_only_pose(b, person) for b in boxes])

    tracker = PersonTracker(TrackerConfig(detector="search", search_refine=refine))
    tracker.state, tracker.box, tracker._lost_frames = "lost", CropBox(639.5, 359.5, 720.0), 1
    box = tracker.propose(frame, estimate)
    assert len(calls) == (2 if refine else 1)  # the coarse grid, then its neighbourhoods
    assert (tracker.state == "acquired") == found
    if found:
        assert abs(box.cx - person[0]) < box.size / 8


def test_an_empty_scene_costs_no_second_pass() -> None:
    calls: list[int] = []

    def estimate(boxes: list[CropBox]) -> np.ndarray:
        calls.append(len(boxes))
        return np.stack([centred_only_pose(b, (-5000.0, -5000.0)) for b in boxes])

    tracker = PersonTracker(TrackerConfig(detector="search"))
    tracker.state, tracker.box, tracker._lost_frames = "lost", CropBox(639.5, 359.5, 720.0), 1
    tracker.propose(np.zeros((720, 1280, 3), np.uint8), estimate)
    assert calls == [len(search_boxes(1280, 720))] and tracker.state == "lost"
