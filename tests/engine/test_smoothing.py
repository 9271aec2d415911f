import numpy as np
import pytest

from engine.smoothing import OneEuroConfig, OneEuroFilter

CROP = 400.0  # crop side in pixels: the scale speeds are measured in


def run(filt: OneEuroFilter, signal: np.ndarray, fps: float = 30.0, scale: float = CROP) -> np.ndarray:
    return np.array([filt(np.array([v]), i / fps, scale)[0] for i, v in enumerate(signal)])


def test_jitter_is_reduced_on_a_still_joint() -> None:
    rng = np.random.default_rng(0)
    noisy = 100 + rng.normal(0, 1.0, 300)  # a quarter of a percent of the crop
    out = run(OneEuroFilter(OneEuroConfig()), noisy)
    assert out[30:].std() < 0.55 * noisy[30:].std()


def test_fast_motion_is_followed_with_little_lag() -> None:
    t = np.arange(120)
    moving = 10.0 * t  # 300 px/s: three quarters of the crop a second, a walker
    out = run(OneEuroFilter(OneEuroConfig()), moving)
    slow = run(OneEuroFilter(OneEuroConfig(beta=0.0)), moving)
    lag_adaptive = np.abs(out[60:] - moving[60:]).mean()
    lag_fixed = np.abs(slow[60:] - moving[60:]).mean()
    assert lag_adaptive < 0.05 * lag_fixed
    assert lag_adaptive < 0.02 * CROP


def test_a_near_and_a_far_person_are_smoothed_alike() -> None:
    # The same movement, filmed 4x larger (a person nearer the camera, a crop 4x wider), comes out
    # 4x larger: the filter measures speed in crops a second, not pixels a second.
    rng = np.random.default_rng(1)
    far = 50 + np.cumsum(rng.normal(0, 1.0, 200)) + 2.0 * np.sin(np.arange(200) / 5)
    out_far = run(OneEuroFilter(OneEuroConfig()), far, scale=CROP / 4)
    out_near = run(OneEuroFilter(OneEuroConfig()), 4 * far, scale=CROP)
    np.testing.assert_allclose(out_near, 4 * out_far, rtol=1e-9, atol=1e-9)
    # In pixel speed (scale 1 for both) they would be treated differently.
    px_far = run(OneEuroFilter(OneEuroConfig()), far, scale=1.0)
    px_near = run(OneEuroFilter(OneEuroConfig()), 4 * far, scale=1.0)
    assert np.abs(px_near - 4 * px_far).max() > 0.1


def test_disabled_and_reset() -> None:
    f = OneEuroFilter(OneEuroConfig(enabled=False))
    x = np.array([[1.0, 2.0]])
    assert (f(x, 0.0) == x).all() and (f(x + 5, 0.03) == x + 5).all()
    g = OneEuroFilter(OneEuroConfig())
    g(x, 0.0)
    g.reset()
    assert (g(x + 50, 1.0) == x + 50).all()


def test_permuting_the_rows_carries_each_history_with_its_points() -> None:
    # Two joints with their own histories; their labels trade places: after ``permute`` the filter
    # continues exactly as one that had always seen them in the new order.
    rng = np.random.default_rng(0)
    track = np.cumsum(rng.normal(0, 5, (12, 2, 2)), axis=0) + np.array([[100.0, 50.0], [300.0, 80.0]])
    order = np.array([1, 0])
    a, b = OneEuroFilter(OneEuroConfig()), OneEuroFilter(OneEuroConfig())
    for i in range(6):
        a(track[i], i / 30, CROP)
        b(track[i][order], i / 30, CROP)
    a.permute(order)
    for i in range(6, 12):
        np.testing.assert_allclose(a(track[i][order], i / 30, CROP), b(track[i][order], i / 30, CROP))
    # Without the permute the two sides would be blended: the jump looks like fast motion, so the
    # filter follows most of it, yet lags by tens of pixels.
    c = OneEuroFilter(OneEuroConfig())
    for i in range(6):
        c(track[i], i / 30, CROP)
    assert np.abs(c(track[6][order], 6 / 30, CROP) - b(track[6][order], 6 / 30, CROP)).max() > 10


def test_a_score_that_dips_for_a_frame_stays_drawn_and_a_lost_joint_goes() -> None:
    from engine.smoothing import ScoreFilter, ScoreSmoothing

    threshold, fps = 0.42, 60.0
    readings = [0.6] * 10 + [0.2] + [0.6] * 5 + [0.1] * 12
    f = ScoreFilter(ScoreSmoothing())
    out = [float(f(np.array([s]), i / fps)[0]) for i, s in enumerate(readings)]
    assert out[10] >= threshold  # one bad frame: still drawn
    assert out[11] > 0.55  # and back up within a frame
    gone = next(i for i in range(16, len(out)) if out[i] < threshold)
    assert gone - 16 <= 3  # a joint that is really lost goes within 50 ms
    assert out[-1] < 0.15
    # A rise is followed fast, a fall more slowly.
    g = ScoreFilter(ScoreSmoothing())
    g(np.array([0.2, 0.8]), 0.0)
    up, down = g(np.array([0.8, 0.2]), 1 / fps)
    assert up - 0.2 > 0.8 - down > 0.1


def test_score_filter_reset_permute_and_repeated_frames() -> None:
    from engine.errors import ConfigError
    from engine.smoothing import ScoreFilter, ScoreSmoothing

    f = ScoreFilter(ScoreSmoothing())
    f(np.array([0.9, 0.1]), 0.0)
    np.testing.assert_allclose(f(np.array([0.0, 0.0]), 0.0), [0.9, 0.1])  # same time: nothing happens
    f.permute(np.array([1, 0]))
    np.testing.assert_allclose(f(np.array([0.1, 0.9]), 0.0), [0.1, 0.9])
    f.reset()
    np.testing.assert_allclose(f(np.array([0.3, 0.3]), 5.0), [0.3, 0.3])
    off = ScoreFilter(ScoreSmoothing(rise=0.0, fall=0.0))
    off(np.array([0.9]), 0.0)
    assert off(np.array([0.1]), 0.01)[0] == pytest.approx(0.1)  # time constants 0: no smoothing
    with pytest.raises(ConfigError):
        ScoreSmoothing(rise=-1.0)


def test_one_euro_settings_are_validated() -> None:
    from engine.errors import ConfigError

    for bad in ({"min_cutoff": 0.0}, {"d_cutoff": -1.0}, {"beta": -0.1}):
        with pytest.raises(ConfigError):
            OneEuroConfig(**bad)
