import numpy as np
import pytest

from engine.decoding import decode_heatmaps, merge_flipped
from engine.skeleton import LSP14


def gaussians(centres: np.ndarray, size: int = 64, sigma: float = 1.0) -> np.ndarray:
    """(N, 1, size, size) Gaussian heatmaps with peaks at ``centres`` (N, 2), peak value 1."""
    ys, xs = np.mgrid[0:size, 0:size]
    d2 = (xs[None] - centres[:, 0, None, None]) ** 2 + (ys[None] - centres[:, 1, None, None]) ** 2
    return np.exp(-d2 / (2 * sigma**2)).astype(np.float32)[:, None]


@pytest.mark.parametrize("sigma", [1.0, 2.0])
def test_dark_recovers_subpixel_peaks(sigma: float) -> None:
    centres = np.random.default_rng(0).uniform(4, 59, (300, 2))
    hm = gaussians(centres, sigma=sigma)
    dec = decode_heatmaps(hm, refine="dark")
    err = np.abs(dec[:, 0, :2] - centres).max()
    assert err < 0.1, err
    # The confidence is the raw peak: below 1 when the true centre falls between pixels.
    np.testing.assert_allclose(dec[:, 0, 2], hm.reshape(len(hm), -1).max(axis=1), rtol=1e-6)


def test_quarter_shift_beats_plain_argmax() -> None:
    centres = np.random.default_rng(1).uniform(4, 59, (300, 2))
    hm = gaussians(centres)
    plain = np.abs(decode_heatmaps(hm, refine="none")[:, 0, :2] - centres).mean()
    quarter = np.abs(decode_heatmaps(hm, refine="quarter")[:, 0, :2] - centres).mean()
    assert quarter < plain
    assert np.abs(decode_heatmaps(hm, refine="quarter")[:, 0, :2] - centres).max() <= 0.25 + 1e-6


def test_peaks_at_the_border_fall_back_without_nan() -> None:
    dec = decode_heatmaps(gaussians(np.array([[0.0, 0.0], [63.0, 30.2]])))
    assert np.isfinite(dec).all()
    assert np.abs(dec[0, 0, :2]).max() <= 0.25 + 1e-6


def test_flip_merge_undoes_the_mirror_and_swaps_sides() -> None:
    rng = np.random.default_rng(2)
    k = LSP14.num_joints
    centres = rng.uniform(4, 27, (k, 2))
    hm = np.concatenate([gaussians(centres[i:i + 1], 32) for i in range(k)], axis=1)
    # What the network would see on the mirrored crop: mirrored maps with left/right swapped.
    mirrored = hm[:, list(LSP14.flip_permutation()), :, ::-1]
    merged = merge_flipped(hm, mirrored, LSP14.flip_permutation())
    np.testing.assert_allclose(merged, hm, atol=1e-6)
