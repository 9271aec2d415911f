from collections.abc import Callable, Sequence

import numpy as np
import pytest
from poses import contains, standing_pose

from engine.crop import CropBox, apply_affine, crop_matrix
from engine.errors import ConfigError
from engine.motion import MotionCue
from engine.roi import PersonTracker, TrackerConfig, _contains, clamp_box, hog_available, search_boxes


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
    assert len({b.size for b in boxes}) == len(TrackerConfig().search_scales)


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
    for scales in ({"search_scales": ()}, {"search_scales": (1.0, 0.0)}, {"still_search_scales": (1.5,)}):
        with pytest.raises(ConfigError, match="search scales"):
            TrackerConfig(**scales)
    if not hog_available():
        with pytest.raises(ConfigError, match="OpenCV 4"):
            TrackerConfig(detector="hog")


def test_tracker_threshold_defaults_to_the_models() -> None:
    assert PersonTracker(TrackerConfig(), default_threshold=0.12).threshold == 0.12
    assert PersonTracker(TrackerConfig(), default_threshold=0.12).search_threshold == 0.12
    assert PersonTracker(TrackerConfig(), default_threshold=0.12, search_threshold=0.2).search_threshold == 0.2
    forced = PersonTracker(TrackerConfig(joint_threshold=0.5), default_threshold=0.12, search_threshold=0.2)
    assert (forced.threshold, forced.search_threshold) == (0.5, 0.5)


def test_search_crops_are_judged_at_the_search_threshold_and_the_pose_crop_at_its_own() -> None:
    # With the flip test on, the pose crop's scores are flip-test averages (calibrated lower, 0.41
    # for the bundled model) while the search reads its crops alone (0.44).
    tracker = PersonTracker(TrackerConfig(detector="search", motion=False), default_threshold=0.41,
                            search_threshold=0.44)
    frame = np.zeros((720, 1280, 3), np.uint8)
    person_x = 1150.0
    box = tracker.propose(frame, lambda boxes: np.stack([fake_pose(b, person_x) for b in boxes]))
    tracker.update(frame.shape, fake_pose(box, person_x))  # nobody in the central crop
    assert tracker.state == "lost"
    # Search crops scoring 0.42 hold no one found at the search threshold...
    tracker.propose(frame, lambda boxes: np.stack([fake_pose(b, person_x, 0.42) for b in boxes]))
    assert tracker.state == "lost"
    tracker.reset()
    tracker.propose(frame, lambda boxes: np.stack([fake_pose(b, person_x) for b in boxes]))
    tracker.update(frame.shape, fake_pose(tracker.box, person_x, 0.05))
    box = tracker.propose(frame, lambda boxes: np.stack([fake_pose(b, person_x, 0.46) for b in boxes]))
    assert tracker.state == "acquired"  # ...while 0.46 is someone
    # ...and a pose crop scoring 0.42 is a person found, read at the pose crop's threshold.
    tracker.update(frame.shape, fake_pose(box, person_x, 0.42))
    assert tracker.state == "tracking" and tracker.is_confident(fake_pose(box, person_x, 0.42))


def test_hysteresis_keeps_a_partly_visible_person_without_shrinking() -> None:
    tracker = PersonTracker(TrackerConfig(min_joints=7, keep_joints=4, keep_support=6), default_threshold=0.3)
    frame = np.zeros((720, 1280, 3), np.uint8)
    tracker.propose(frame, lambda boxes: np.zeros((len(boxes), 14, 3), np.float32))
    full = standing_pose(600, 200)
    tracker.update(frame.shape, full)
    assert tracker.state == "tracking"
    size = tracker.box.size
    partial = full.copy()
    partial[[0, 1, 4, 5, 6, 7, 10, 11, 13], 2] = 0.05  # only hips, shoulders and neck stay
    tracker.update(frame.shape, partial)
    assert tracker.state == "tracking"  # 5 >= keep_joints: still the same person
    assert tracker.box.size >= size - 1e-6  # joints dropping out do not shrink the crop
    partial[[2, 3], 2] = 0.05  # 3 joints: below keep_joints, and no support
    tracker.update(frame.shape, partial)
    assert tracker.state == "lost"
    # Lost but with the crop still on the person, 5 joints resume tracking...
    five = full.copy()
    five[5:, 2] = 0.05
    tracker.update(frame.shape, five)
    assert tracker.state == "tracking"
    # ...while the central crop, a mere guess, needs min_joints (or support to go with them).
    fresh = PersonTracker(TrackerConfig(min_joints=7, keep_joints=4), default_threshold=0.3)
    fresh.propose(frame, lambda boxes: np.zeros((len(boxes), 14, 3), np.float32))
    fresh.update(frame.shape, five)
    assert fresh.state == "lost"


@pytest.mark.parametrize("seen_whole", [True, False])
def test_weak_legs_stay_in_the_next_crop(seen_whole: bool) -> None:
    """A stub backend that reports only the upper body as confident: the next crop still holds the
    feet, where the last well-seen pose (or, never seen, a standing body) puts them."""
    frame = np.zeros((1080, 1920, 3), np.uint8)
    tracker = PersonTracker(TrackerConfig(), default_threshold=0.3)
    person = standing_pose(900, 200, y=500)
    upper = person.copy()
    upper[[0, 1, 4, 5], 2] = 0.02  # knees and ankles: nothing at all
    tracker.propose(frame, lambda boxes: np.stack([upper] * len(boxes)))
    tracker.update(frame.shape, person if seen_whole else upper)
    for _ in range(30):  # many frames of an upper body only: the crop must not creep up
        box = tracker.propose(frame, lambda boxes: np.stack([upper] * len(boxes)))
        assert tracker.state == "tracking"
        assert contains(box, person[[0, 5], :2]), box  # both ankles
        assert contains(box, person[[13], :2])  # and the head
        tracker.update(frame.shape, upper)
    assert box.size < 3 * 3.2 * 200  # a crop for this person, not the whole frame


def test_a_person_seen_side_on_is_sized_by_head_and_arms_not_by_overlapping_shoulders() -> None:
    """Found side on with the hips weak (the sports2d_two_walkers walker, acquired in a crop that cut
    her legs): the shoulders nearly overlap, so their width would make her a few pixels tall and
    the crop would keep only her upper body. The head and upper arm give her size: the crop holds
    the feet a standing body of that size has."""
    frame = np.zeros((1080, 1920, 3), np.uint8)
    person = standing_pose(900, 150, y=600)
    person[:, 0] = 900 + 0.1 * (person[:, 0] - 900)  # side on: left and right nearly overlap
    seen = person.copy()
    seen[[0, 1, 2, 3, 4, 5], 2] = 0.05  # hips, knees and ankles: nothing
    tracker = PersonTracker(TrackerConfig(), default_threshold=0.3)
    small = CropBox(900.0, 480.0, 300.0)  # the finding crop: head to waist
    tracker.state, tracker.box = "lost", small
    box = tracker._acquired_box(seen, small, (1920, 1080))
    assert contains(box, person[[0, 5, 13], :2]), box  # both ankles and the head
    tracker.box, tracker.state = box, "acquired"
    tracker.update(frame.shape, seen)
    assert contains(tracker.box, person[[0, 5, 13], :2]), tracker.box


def test_weak_legs_hang_along_the_torso_measured_before_not_along_a_tilted_head() -> None:
    """A man walking along a wall top (sports2d_two_walkers), backlit: only his head, shoulders and
    arms are read, and he looks down at his feet. Legs hung along the head's axis came out short and
    sideways, and the crop cut his ankles; the torso axis measured on earlier frames keeps them in."""
    frame = np.zeros((1080, 1920, 3), np.uint8)
    person = standing_pose(900, 150, y=500)
    tracker = PersonTracker(TrackerConfig(upright=0.0), default_threshold=0.3)
    tracker.state, tracker.box = "acquired", CropBox(900.0, 560.0, 700.0)
    for _ in range(3):
        tracker.update(frame.shape, person)  # seen whole and upright
    nodding = person.copy()
    nodding[[0, 1, 2, 3, 4, 5], 2] = 0.05  # hips, knees and ankles: nothing
    a = np.radians(50.0)  # the head bent 50 degrees forward
    nodding[13, :2] = nodding[12, :2] - 0.5 * 150 * np.array([np.sin(a), np.cos(a)])
    for _ in range(3):
        tracker.update(frame.shape, nodding)
        assert contains(tracker.box, person[[0, 5], :2]), tracker.box  # both ankles


@pytest.mark.parametrize("score", [0.9, 0.2])
def test_a_leaning_person_read_weakly_gets_the_turned_crop(score: float) -> None:
    """A runner bent 50 degrees whom the model reads only at support level (every joint between
    half the threshold and the threshold) gets the turned crop as a confident one does: the
    unturned crop is what keeps the reading weak."""
    frame = np.zeros((1080, 1920, 3), np.uint8)
    a = np.radians(50.0)
    pose = standing_pose(0, 150, y=0, conf=score)
    pose[:, :2] = pose[:, :2] @ np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]) + [960.0, 540.0]
    pose[[6, 11, 13], 2] = 0.9  # wrists and head top found: a trace the tracker keeps following
    tracker = PersonTracker(TrackerConfig(upright=30.0, upright_turn=30.0), default_threshold=0.3)
    tracker.state, tracker.box = "acquired", CropBox(960.0, 540.0, 700.0)
    for _ in range(4):
        tracker.update(frame.shape, pose)
        assert tracker.state == "tracking"
    assert abs(tracker.box.rotation - 30.0) < 0.5


def test_the_crop_shrinks_when_the_person_gets_smaller() -> None:
    frame = np.zeros((1080, 1920, 3), np.uint8)
    tracker = PersonTracker(TrackerConfig(), default_threshold=0.3)
    tracker.propose(frame, lambda boxes: np.zeros((len(boxes), 14, 3), np.float32))
    tracker.update(frame.shape, standing_pose(900, 250, y=500))
    big = tracker.box.size
    for torso in np.linspace(250, 120, 60):  # walking away: the measured torso shrinks
        tracker.propose(frame, lambda boxes: np.zeros((len(boxes), 14, 3), np.float32))
        tracker.update(frame.shape, standing_pose(900, torso, y=500))
    assert tracker.box.size < 0.6 * big
    assert contains(tracker.box, standing_pose(900, 120, y=500)[:, :2])


def test_a_mirrored_pose_is_a_swap() -> None:
    tracker = PersonTracker(TrackerConfig(), default_threshold=0.3)
    frame = np.zeros((720, 1280, 3), np.uint8)
    tracker.propose(frame, lambda boxes: np.zeros((len(boxes), 14, 3), np.float32))
    pose = standing_pose(640, 150)
    tracker.update(frame.shape, pose)
    flip = list(tracker.skeleton.flip_permutation())
    mirrored = pose[flip]
    fixed = tracker.consistent_sides(mirrored)
    np.testing.assert_array_equal(fixed, pose)
    # A small move is not a swap; nor is anything when sides are off.
    moved = pose.copy()
    moved[:, 0] += 5
    np.testing.assert_array_equal(tracker.consistent_sides(moved), moved)
    off = PersonTracker(TrackerConfig(sides=False), default_threshold=0.3)
    off.propose(frame, lambda boxes: np.zeros((len(boxes), 14, 3), np.float32))
    off.update(frame.shape, pose)
    np.testing.assert_array_equal(off.consistent_sides(mirrored), mirrored)


def test_a_labelling_the_model_keeps_contradicting_is_given_up() -> None:
    # The tracker starts from a mirrored frame; the model then labels the person the other way on
    # every frame. The first clear decisions undo it as a swap; from side_votes (5) of them on the
    # model's labelling is taken, and kept.
    tracker = PersonTracker(TrackerConfig(), default_threshold=0.3)
    frame = np.zeros((720, 1280, 3), np.uint8)
    flip = list(tracker.skeleton.flip_permutation())
    tracker.propose(frame, lambda boxes: np.zeros((len(boxes), 14, 3), np.float32))
    pose = standing_pose(640, 150)
    tracker.update(frame.shape, pose[flip])  # the first frame came out mirrored
    outputs, switched = [], []
    for _ in range(8):
        out = tracker.consistent_sides(pose)
        outputs.append(bool(np.array_equal(out, pose)))
        switched.append(tracker.sides_switched)  # the pipeline resets its smoothing on that frame
        tracker.update(frame.shape, out)
    assert outputs == [False] * 4 + [True] * 4
    assert switched == [False] * 4 + [True] + [False] * 3


def test_a_weak_pose_moves_the_crop_a_little_and_a_confident_one_at_once() -> None:
    frame = np.zeros((1080, 1920, 3), np.uint8)
    for confident in (False, True):
        tracker = PersonTracker(TrackerConfig(weak_step=0.1), default_threshold=0.3)
        tracker.propose(frame, lambda boxes: np.zeros((len(boxes), 14, 3), np.float32))
        tracker.update(frame.shape, standing_pose(900, 200, y=500))
        before = tracker.box
        moved = standing_pose(1300, 200, y=600)  # the joints jump 400 px right, 100 down
        if not confident:
            moved[[0, 1, 4, 5, 6, 7, 10, 11], 2] = 0.2  # 6 found (< min_joints 7), the rest support
        tracker.update(frame.shape, moved)
        step = np.hypot(tracker.box.cx - before.cx, tracker.box.cy - before.cy)
        if confident:
            assert step > 350
        else:  # a weak pose is partly wrong: the crop does not chase it
            assert step == pytest.approx(0.1 * before.size, rel=1e-6)
            assert tracker.box.size <= 1.1 * before.size + 1e-6


def scene(person_x: float | None, width: int = 1280, height: int = 720, noise: int = 0) -> np.ndarray:
    """A grey frame with a dark 'person' (60 x 300 px) whose centre is at ``person_x``."""
    rng = np.random.default_rng(int(person_x or 0) + noise)
    frame = np.full((height, width, 3), 180, np.uint8)
    if noise:
        frame = (frame.astype(np.int16) + rng.integers(-noise, noise + 1, frame.shape)).clip(0, 255).astype(np.uint8)
    if person_x is not None:
        x0 = int(max(0, person_x - 30))
        frame[210:510, x0:int(person_x + 30)] = 30
    return frame


def seen_by_model(box: CropBox, person: tuple[float, float] | None) -> np.ndarray:
    """Like a single-person model: a full pose when the person's centre is in the middle 80 % of the
    crop and the crop is not much bigger than a person, nothing otherwise."""
    kp = standing_pose(person[0] if person else 0, 90, y=person[1] if person else 0, conf=0.02)
    if person is not None:
        x0, y0, x1, y1 = box.xyxy
        mx, my = 0.1 * box.size, 0.1 * box.size
        if x0 + mx <= person[0] <= x1 - mx and y0 + my <= person[1] <= y1 - my and box.size < 1000:
            kp[:, 2] = 0.9
    return kp


@pytest.mark.parametrize(("motion", "within"), [(True, 3), (False, TrackerConfig().redetect_every + 3)])
def test_a_person_entering_at_the_edge_is_found_fast(motion: bool, within: int) -> None:
    # With the motion cue within 3 frames; the whole-frame search alone runs every redetect_every.
    tracker = PersonTracker(TrackerConfig(motion=motion), default_threshold=0.3)
    calls: list[int] = []
    person: tuple[float, float] | None = None

    def estimate(boxes: list[CropBox]) -> np.ndarray:
        calls.append(len(boxes))
        return np.stack([seen_by_model(b, person) for b in boxes])

    found_at = None
    for i in range(30):
        person = None if i < 12 else (1270.0 - 12 * (i - 12), 360.0)  # enters at the right edge at 12
        frame = scene(None if person is None else person[0])
        box = tracker.propose(frame, estimate)
        tracker.update(frame.shape, estimate([box])[0])
        if person is not None and tracker.state == "tracking" and found_at is None:
            found_at = i
            assert contains(box, np.array([person]))
    assert found_at is not None and found_at - 12 <= within, found_at


def test_a_person_who_leaves_and_comes_back_elsewhere_is_found_again_within_a_few_frames() -> None:
    # Followed at x=400, gone for 8 frames (out of view), back at x=1000: the held crop waits
    # hold_frames for them to reappear where they were, then the motion cue finds them.
    tracker = PersonTracker(TrackerConfig(), default_threshold=0.3)
    person: tuple[float, float] | None = None

    def estimate(boxes: list[CropBox]) -> np.ndarray:
        return np.stack([seen_by_model(b, person) for b in boxes])

    back_at, found_again = 20, None
    for i in range(40):
        person = (400.0, 360.0) if i < 12 else None if i < back_at else (1000.0 - 5 * (i - back_at), 360.0)
        frame = scene(None if person is None else person[0])
        box = tracker.propose(frame, estimate)
        tracker.update(frame.shape, estimate([box])[0])
        if i == 11:
            assert tracker.state == "tracking"
        if i >= back_at and tracker.state == "tracking" and found_again is None:
            found_again = i
            assert contains(box, np.array([person]))
    assert found_again is not None and found_again - back_at <= 1, found_again  # 10 frames of hold: 3


@pytest.mark.parametrize("max_weak_frames", [8, 0])
def test_a_crop_left_on_a_trace_gives_up_and_finds_the_person_elsewhere(max_weak_frames: int) -> None:
    # Followed at x=400; from frame 10 the person is at x=1000 and the held crop shows only a trace
    # (glare, foliage: 6 joints with support, none found). Support alone keeps following for
    # max_weak_frames; then the crop is held hold_frames more and the motion cue finds the person.
    # Without the limit the trace holds every search off for good.
    config = TrackerConfig(max_weak_frames=max_weak_frames)
    tracker = PersonTracker(config, default_threshold=0.3)
    person = (400.0, 360.0)

    def estimate(boxes: list[CropBox]) -> np.ndarray:
        out = []
        for b in boxes:
            if person[0] > 900 and abs(b.cx - 400.0) < 150:
                kp = standing_pose(400.0, 90, conf=0.02)
                kp[:6, 2] = 0.2  # support (0.5 x 0.3), not found
            else:
                kp = seen_by_model(b, person)
            out.append(kp)
        return np.stack(out)

    found_at = None
    for i in range(45):
        person = (400.0, 360.0) if i < 10 else (1000.0 - 2 * (i - 10), 360.0)
        frame = scene(person[0])
        box = tracker.propose(frame, estimate)
        tracker.update(frame.shape, estimate([box])[0])
        if i == 9:
            assert tracker.state == "tracking"
        if i >= 10 and found_at is None and contains(box, np.array([person])) and tracker.state == "tracking":
            found_at = i
    if max_weak_frames:
        limit = 10 + max_weak_frames + config.hold_frames + 3
        assert found_at is not None and found_at <= limit, found_at
    else:
        assert found_at is None


def test_the_search_is_skipped_on_a_static_scene_and_not_on_a_moving_one() -> None:
    for moving in (False, True):
        tracker = PersonTracker(TrackerConfig(redetect_every=2, motion=False), default_threshold=0.3)
        searched: list[int] = []

        def estimate(boxes: list[CropBox]) -> np.ndarray:
            return np.zeros((len(boxes), 14, 3), np.float32)

        for i in range(9):
            # A moving scene: something crosses it (but the stub model finds nobody).
            frame = scene(100.0 + 120 * i if moving else None, noise=2)
            before = tracker.searches_run
            box = tracker.propose(frame, estimate)
            if tracker.searches_run > before:
                searched.append(i)
            tracker.update(frame.shape, estimate([box])[0])
        # Frames 1, 3, 5, 7 are due a search; on a static scene only the first runs (camera noise
        # of a few grey levels is no change).
        assert searched == ([1, 3, 5, 7] if moving else [1]), (moving, searched)
        assert tracker.searches_skipped == (0 if moving else 3)


@pytest.mark.parametrize(("motion_trace", "searched_at"), [(3, [1, 7]), (99, [1, 3, 5, 7, 9])])
def test_a_trace_where_the_frame_moves_defers_the_whole_frame_search(motion_trace: int,
                                                                      searched_at: list[int]) -> None:
    # Someone half in view, moving: every crop shows a trace of them (3 joints with support, none
    # found). After a fruitless whole-frame search the motion crops follow them, and the searches
    # that fall due wait, at most max_deferrals (2) times in a row.
    tracker = PersonTracker(TrackerConfig(redetect_every=2, motion_trace=motion_trace), default_threshold=0.3)
    searched: list[int] = []

    def estimate(boxes: list[CropBox]) -> np.ndarray:
        kp = np.zeros((len(boxes), 14, 3), np.float32)
        kp[:, :3, 2] = 0.2  # support (0.5 x 0.3) but not found
        return kp

    for frame_index in range(11):
        frame = scene(1270.0 - 10 * frame_index)
        before = tracker.searches_run
        box = tracker.propose(frame, estimate)
        if tracker.searches_run > before:
            searched.append(frame_index)
        tracker.update(frame.shape, np.zeros((14, 3), np.float32))
    assert box is not None
    assert searched == searched_at
    assert tracker.searches_deferred == (3 if motion_trace == 3 else 0)


def test_a_person_lost_in_place_is_looked_for_at_their_size_where_they_move() -> None:
    # Followed at the frame's centre, then read weakly (a runner bent flat: only a trace, and only
    # in a crop the person's size): the motion cue sees just a swinging leg, a small region. Its
    # crops are looked at the lost person's size, so they show the trace, and the whole-frame
    # searches that fall due wait (at most max_deferrals in a row) while the person is there.
    config = TrackerConfig(redetect_every=2)
    tracker = PersonTracker(config, default_threshold=0.3)
    person, weak = (640.0, 360.0), False
    motion_sizes: list[float] = []
    grid_searches: list[int] = []

    def estimate(boxes: list[CropBox]) -> np.ndarray:
        if len(boxes) <= 2 and proposing and tracker.state == "lost":  # the motion cue's (at most 2)
            motion_sizes.extend(b.size for b in boxes)
        poses = np.stack([seen_by_model(b, person) for b in boxes])
        if weak:
            for pose, b in zip(poses, boxes, strict=True):
                big = b.size >= 0.8 * held_size and contains(b, np.array([person]))
                pose[:, 2] = 0.02
                pose[:3, 2] = 0.2 if big else 0.02  # support (0.5 x 0.3), not found
        return poses

    held_size, proposing = 0.0, False
    for frame_index in range(24):
        weak = 8 <= frame_index < 20
        frame = scene(person[0])
        # The swinging leg: a small patch beside the person that moves every frame.
        frame[440:480, 680 + 20 * (frame_index % 2):720 + 20 * (frame_index % 2)] = 60
        proposing, before = True, tracker.searches_run
        box = tracker.propose(frame, estimate)
        proposing = False
        if tracker.searches_run > before:
            grid_searches.append(frame_index)
        if frame_index == 7:
            held_size = box.size
        tracker.update(frame.shape, estimate([box])[0])
        if frame_index == 7:
            assert tracker.state == "tracking"
    assert motion_sizes and min(motion_sizes) >= held_size - 1e-6
    # Lost at frame 8, held until 14; the searches due at 15 and 17 wait for the trace, the one at
    # 19 runs (max_deferrals 2).
    assert grid_searches == [19], grid_searches
    assert tracker.searches_deferred == 2
    assert tracker.state == "tracking"  # read well again: found again where it moved


def test_a_smaller_person_elsewhere_is_still_found_by_the_motion_cue() -> None:
    # A confirmed tall person leaves; a much smaller one walks in elsewhere. Only crops near their
    # size read them (a single-person model sees a small person in a big crop as nobody), so the
    # motion crops there must keep the size of what moves, not the lost person's.
    tracker = PersonTracker(TrackerConfig(), default_threshold=0.3)
    person: tuple[float, float, float] | None = None  # x, y, height

    def estimate(boxes: list[CropBox]) -> np.ndarray:
        out = []
        for b in boxes:
            kp = standing_pose(0, 90, conf=0.02)
            if person is not None:
                x, y, height = person
                kp = standing_pose(x, height / 3.2, y=y + height * 0.05, conf=0.02)
                x0, y0, x1, y1 = b.xyxy
                m = 0.1 * b.size
                if x0 + m <= x <= x1 - m and y0 + m <= y <= y1 - m and b.size <= 2.5 * height:
                    kp[:, 2] = 0.9
            out.append(kp)
        return np.stack(out)

    def frame_with(p: tuple[float, float, float] | None) -> np.ndarray:
        frame = np.full((720, 1280, 3), 180, np.uint8)
        if p is not None:
            x, y, height = p
            frame[int(y - height / 2):int(y + height / 2), int(x - height / 10):int(x + height / 10)] = 30
        return frame

    found_at = None
    for i in range(40):
        person = (300.0, 360.0, 400.0) if i < 10 else None if i < 20 else (1100.0 - 6 * (i - 20), 560.0, 110.0)
        frame = frame_with(person)
        box = tracker.propose(frame, estimate)
        tracker.update(frame.shape, estimate([box])[0])
        if i == 9:
            assert tracker.state == "tracking" and box.size > 400
        if i >= 20 and tracker.state == "tracking" and found_at is None:
            found_at = i
            assert person is not None and contains(box, np.array([person[:2]]))
    assert found_at is not None and found_at - 20 <= 3, found_at


def test_contains_follows_the_turn_of_the_box() -> None:
    # A square turned by 45 degrees reaches sqrt(2) half-sides along the axes, and not into the
    # corners of the unturned square.
    box = CropBox(100.0, 100.0, 100.0, rotation=45.0)
    assert _contains(box, 100.0 + 65.0, 100.0) and not _contains(CropBox(100.0, 100.0, 100.0), 165.0, 100.0)
    assert not _contains(box, 100.0 + 45.0, 100.0 + 45.0) and _contains(CropBox(100.0, 100.0, 100.0), 145.0, 145.0)
    # The same turn as the crop itself: a point is in the box exactly when the crop's pixels hold it.
    rng = np.random.default_rng(0)
    for rotation in (30.0, -70.0, 135.0):
        turned = CropBox(300.0, 200.0, 100.0, rotation=rotation)
        points = rng.uniform((200, 100), (400, 300), (400, 2))
        uv = apply_affine(crop_matrix(turned, 100), points)  # crop pixels span [-0.5, 99.5]
        in_crop = ((uv >= -0.5) & (uv <= 99.5)).all(axis=1)
        assert [_contains(turned, x, y) for x, y in points] == list(in_crop), rotation


def test_motion_proposals_cover_what_moved() -> None:
    cue = MotionCue()
    cue.observe(scene(400.0))
    assert cue.proposals() == []  # one frame: no motion yet
    cue.observe(scene(400.0))
    assert cue.proposals() == []  # nothing moved
    cue.observe(scene(460.0))
    boxes = cue.proposals()
    assert boxes and contains(boxes[0], np.array([[430.0, 360.0], [490.0, 360.0]]))
    assert boxes[0].size < 720


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


def search_while_lost(config: TrackerConfig, pose_of: Callable[[CropBox], np.ndarray],
                      ) -> tuple[PersonTracker, CropBox, list[int]]:
    """One whole-frame search on a 1280x720 frame by a tracker that has just lost its person, with
    a stub model that reads crop ``b`` as ``pose_of(b)``: the tracker, the crop it proposes and
    the number of crops of each model call."""
    calls: list[int] = []

    def estimate(boxes: Sequence[CropBox]) -> np.ndarray:
        calls.append(len(boxes))
        return np.stack([pose_of(b) for b in boxes]) if boxes else np.zeros((0, 14, 3), np.float32)

    tracker = PersonTracker(config, default_threshold=0.3)
    tracker.state, tracker.box, tracker._lost_frames = "lost", CropBox(639.5, 359.5, 720.0), 1
    box = tracker.propose(np.zeros((720, 1280, 3), np.uint8), estimate)
    return tracker, box, calls


def grid_sizes(config: TrackerConfig) -> list[int]:
    """Crops of each of the search's grids on a 1280x720 frame, in the order they run."""
    return [len(search_boxes(1280, 720, (f,))) for f in config.search_scales]


@pytest.mark.parametrize(("refine", "found"), [(3, True), (0, False)])
def test_search_looks_again_around_promising_crops(refine: int, found: bool) -> None:
    # (500, 360) lies between the coarse grids' crop centres (x 522.2 with y 287.5 or 431.5 at
    # 576 px; x 427.5 or 639.5 at 432 px; x 359.5 or 639.5 at 720 px), too far from each for a full
    # pose; a neighbour a quarter crop away centres it.
    person = (500.0, 360.0)
    config = TrackerConfig(detector="search", search_refine=refine)
    tracker, box, calls = search_while_lost(config, lambda b: centred_only_pose(b, person))
    # Each coarse grid (no confident person in any), then the neighbourhoods.
    grids = grid_sizes(config)
    assert calls[: len(grids)] == grids and len(calls) == len(grids) + (1 if refine else 0)
    assert (tracker.state == "acquired") == found
    if found:
        assert abs(box.cx - person[0]) < box.size / 8


def test_an_empty_scene_costs_no_second_pass() -> None:
    config = TrackerConfig(detector="search")
    tracker, _, calls = search_while_lost(config, lambda b: centred_only_pose(b, (-5000.0, -5000.0)))
    # The first grid shows not even a trace of anyone: the other grids and the neighbourhoods are
    # not run.
    assert calls == grid_sizes(config)[:1] and tracker.state == "lost"


@pytest.mark.parametrize("search_trace", [3, 0])
def test_a_trace_in_the_first_grid_runs_the_next(search_trace: int) -> None:
    # A person only the second grid's crops read fully shows in the first grid's larger crops as a
    # trace (3 joints with support): the second grid runs and finds them. With the gate off (0),
    # every grid runs even on an empty scene.
    config = TrackerConfig(detector="search", search_refine=0, search_trace=search_trace)
    first, second = (search_boxes(1280, 720, (f,)) for f in config.search_scales[:2])
    person = (second[7].cx, second[7].cy)

    def seen(b: CropBox) -> np.ndarray:
        pose = centred_only_pose(b, person)
        if b.size == first[0].size:
            pose[:, 2] = np.minimum(pose[:, 2], 0.2)  # support at most
        return pose

    tracker, _, calls = search_while_lost(config, seen)
    assert calls == [len(first), len(second)] and tracker.state == "acquired"
    tracker, _, calls = search_while_lost(config, lambda b: np.zeros((14, 3), np.float32))
    assert calls == (grid_sizes(config) if search_trace == 0 else [len(first)]) and tracker.state == "lost"


def test_a_confident_person_in_the_first_grid_ends_the_search() -> None:
    # A person filling most of the frame's height, near the centre of a first-grid crop: that grid
    # finds them with every joint, and no other grid is run.
    config = TrackerConfig(detector="search")
    first = search_boxes(1280, 720, config.search_scales[:1])
    person = (first[1].cx, first[1].cy)
    tracker, box, calls = search_while_lost(config, lambda b: centred_only_pose(b, person))
    assert calls == [len(first)] and tracker.search_crops == len(first) < len(search_boxes(1280, 720))
    assert tracker.state == "acquired" and abs(box.cx - person[0]) < box.size / 8


def test_a_person_filling_the_frame_is_found_by_the_whole_height_crops_last() -> None:
    # Centred only in a whole-height crop (1.0 of the short side): the 0.8 and 0.6 grids show a
    # trace of them, and the whole-height grid, run last, finds them.
    config = TrackerConfig(detector="search", search_refine=0)
    assert config.search_scales[-1] == 1.0
    person = (359.5, 359.5)
    tracker, box, calls = search_while_lost(config, lambda b: centred_only_pose(b, person))
    assert calls == grid_sizes(config)
    assert tracker.state == "acquired" and box.size >= 720 - 1e-6 and abs(box.cx - person[0]) < 90


def test_a_weak_find_in_the_first_grid_does_not_end_the_search() -> None:
    # The treadmill case: a large crop reads something as a person only at support level (enough to
    # acquire when nothing better shows: 11 joints with support, 4 found), while the real person,
    # confident, sits where only the second grid centres them. The second grid runs, and its
    # confident person is the one acquired.
    config = TrackerConfig(detector="search", search_refine=0)
    first, second = (search_boxes(1280, 720, (f,)) for f in config.search_scales[:2])
    person = (second[7].cx, second[7].cy)
    assert all(abs(b.cx - person[0]) + abs(b.cy - person[1]) >= b.size / 8 for b in first)

    def seen(b: CropBox) -> np.ndarray:
        pose = centred_only_pose(b, person)
        if b == first[0]:
            pose[:, 2] = 0.2  # support (0.5 x 0.3) ...
            pose[:4, 2] = 0.9  # ... and 4 found: acquirable, not confident
        return pose

    tracker, box, _ = search_while_lost(config, seen)
    assert tracker.search_crops == len(first) + len(second)
    assert tracker.state == "acquired" and abs(box.cx - person[0]) < box.size / 8


@pytest.mark.parametrize("lean", [0.0, 50.0, -70.0, 180.0])
def test_upright_turns_the_crop_of_a_leaning_person(lean: float) -> None:
    # A person leaning ``lean`` degrees (counter-clockwise in the image; 180 is a handstand): with
    # ``upright`` the crop turns towards setting the torso upright (by at most upright_turn) and
    # holds the whole body; upright people, and a config with upright 0, keep unturned crops.
    frame = np.zeros((1080, 1920, 3), np.uint8)
    a = np.radians(lean)
    turn = np.array([[np.cos(a), np.sin(a)], [-np.sin(a), np.cos(a)]])  # frame-space turn by ``lean``
    pose = standing_pose(0, 150, y=0)
    pose[:, :2] = pose[:, :2] @ turn.T + np.array([960.0, 540.0])
    for upright, turn in ((0.0, 30.0), (20.0, 180.0), (30.0, 30.0)):
        tracker = PersonTracker(TrackerConfig(upright=upright, upright_turn=turn), default_threshold=0.3)
        tracker.propose(frame, lambda boxes: np.zeros((len(boxes), 14, 3), np.float32))
        for _ in range(12):  # the lean is smoothed over frames
            tracker.update(frame.shape, pose)
        box = tracker.box
        expected = float(np.clip(lean, -turn, turn)) if upright and abs(lean) >= upright else 0.0
        assert abs((box.rotation - expected + 180.0) % 360.0 - 180.0) < 0.5  # 180 and -180 are one turn
        # In the crop the whole body is inside and, when turned, the head is straight above the hips.
        uv = apply_affine(crop_matrix(box, 128), pose[:, :2])
        assert (uv > -0.5).all() and (uv < 127.5).all()
        if expected and expected == lean:
            head, hips = uv[13], (uv[2] + uv[3]) / 2
            assert abs(head[0] - hips[0]) < 2 and head[1] < hips[1]


def test_finer_search_crops_are_for_stills_only() -> None:
    # Nobody anywhere: a video frame's search runs the large crops' grid only, a still's goes on to
    # the finer scales (a still has no motion cue to point at a small person).
    frame = np.zeros((720, 1280, 3), np.uint8)
    config = TrackerConfig(search_refine=0)

    def crops(still: bool) -> int:
        tracker = PersonTracker(config, default_threshold=0.3)
        nobody = lambda boxes: np.zeros((len(boxes), 14, 3), np.float32)  # noqa: E731
        tracker.propose(frame, nobody)  # the central crop
        tracker.update(frame.shape, nobody([None])[0])
        tracker.propose(frame, nobody, still=still)
        return tracker.search_crops

    large = len(search_boxes(1280, 720, config.search_scales[:1]))
    coarse = len(search_boxes(1280, 720, config.search_scales))
    finer = sum(len(search_boxes(1280, 720, (f,))) for f in config.still_search_scales)
    # Video stops where the large crops show no trace of anyone; a still runs every grid.
    assert crops(still=False) == large and crops(still=True) == coarse + finer
    assert min(b.size for b in search_boxes(1280, 720, config.still_search_scales)) <= 0.2 * 720
