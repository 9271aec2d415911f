import numpy as np

from engine.smoothing import OneEuroConfig, OneEuroFilter


def run(filt: OneEuroFilter, signal: np.ndarray, fps: float = 30.0) -> np.ndarray:
    return np.array([filt(np.array([v]), i / fps)[0] for i, v in enumerate(signal)])


def test_jitter_is_reduced_on_a_still_joint() -> None:
    rng = np.random.default_rng(0)
    noisy = 100 + rng.normal(0, 2.0, 300)
    out = run(OneEuroFilter(OneEuroConfig()), noisy)
    assert out[30:].std() < 0.5 * noisy[30:].std()


def test_fast_motion_is_followed_with_little_lag() -> None:
    t = np.arange(120)
    moving = 10.0 * t  # 300 px/s
    out = run(OneEuroFilter(OneEuroConfig()), moving)
    slow = run(OneEuroFilter(OneEuroConfig(beta=0.0)), moving)
    lag_adaptive = np.abs(out[60:] - moving[60:]).mean()
    lag_fixed = np.abs(slow[60:] - moving[60:]).mean()
    assert lag_adaptive < 0.5 * lag_fixed


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
    from engine.smoothing import OneEuroConfig, OneEuroFilter

    rng = np.random.default_rng(0)
    track = np.cumsum(rng.normal(0, 5, (12, 2, 2)), axis=0) + np.array([[100.0, 50.0], [300.0, 80.0]])
    order = np.array([1, 0])
    a, b = OneEuroFilter(OneEuroConfig()), OneEuroFilter(OneEuroConfig())
    for i in range(6):
        a(track[i], i / 30)
        b(track[i][order], i / 30)
    a.permute(order)
    for i in range(6, 12):
        np.testing.assert_allclose(a(track[i][order], i / 30), b(track[i][order], i / 30))
    # Without the permute the two sides would be blended for a while.
    c = OneEuroFilter(OneEuroConfig())
    for i in range(6):
        c(track[i], i / 30)
    assert np.abs(c(track[6][order], 6 / 30) - b(track[6][order], 6 / 30)).max() > 50
