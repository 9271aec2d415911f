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
