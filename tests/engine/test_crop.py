import cv2
import numpy as np
import pytest

from engine.crop import (
    CropBox,
    apply_affine,
    crop_matrix,
    heatmap_to_input,
    input_to_heatmap,
    invert_affine,
    normalise_batch,
    stretch_bounds,
    warp_crop,
)
from engine.metadata import MAX_STRETCH_GAIN, Normalisation


@pytest.mark.parametrize("box", [CropBox(100.3, 50.2, 80.5, 23.0), CropBox(640, 360, 720, 0.0),
                                 CropBox(-10, 5, 33.3, -170.0)])
def test_affine_crop_round_trips(box: CropBox) -> None:
    m = crop_matrix(box, 128)
    pts = np.random.default_rng(1).uniform(-200, 900, (50, 2))
    back = apply_affine(invert_affine(m), apply_affine(m, pts))
    np.testing.assert_allclose(back, pts, atol=1e-9)


def test_crop_geometry_matches_pixel_centre_convention() -> None:
    box = CropBox(200.0, 100.0, 64.0)
    m = crop_matrix(box, 128)
    # Centre of the box -> centre of the crop; the box's left edge -> the crop's left edge.
    np.testing.assert_allclose(apply_affine(m, [[200.0, 100.0]]), [[63.5, 63.5]])
    np.testing.assert_allclose(apply_affine(m, [[168.0, 68.0]]), [[-0.5, -0.5]])


def test_warp_moves_a_dot_where_the_matrix_says() -> None:
    frame = np.zeros((300, 400, 3), np.uint8)
    cv2.circle(frame, (250, 120), 3, (255, 255, 255), -1)
    box = CropBox(230.0, 140.0, 150.0, rotation=25.0)
    crop = warp_crop(frame, box, 128)
    ys, xs = np.nonzero(crop[..., 0] > 128)
    found = np.array([xs.mean(), ys.mean()])
    expected = apply_affine(crop_matrix(box, 128), [[250.0, 120.0]])[0]
    assert np.linalg.norm(found - expected) < 0.75


def test_heatmap_and_input_frames_are_inverse() -> None:
    pts = np.array([[0.0, 0.0], [31.0, 12.25]])
    np.testing.assert_allclose(input_to_heatmap(heatmap_to_input(pts, 4), 4), pts)
    # Heatmap pixel j covers input pixels 4j .. 4j+3, centred on 4j + 1.5.
    np.testing.assert_allclose(heatmap_to_input([[2.0, 0.0]], 4), [[9.5, 1.5]])


def test_contrast_stretch_spans_the_range_and_keeps_hue() -> None:
    rng = np.random.default_rng(0)
    # A hazy crop: intensities 100-160, one pixel in a thousand an outlier the percentile ignores.
    crops = rng.integers(100, 161, (2, 40, 40, 3), dtype=np.uint8)
    crops[0, 0, :3] = (0, 255, 0)
    lo, hi = stretch_bounds(crops, 1.0)
    for i, crop in enumerate(crops):
        assert (lo[i], hi[i]) == tuple(np.percentile(crop, (1, 99), method="inverted_cdf"))
    assert (lo >= 100).all() and (hi <= 160).all()
    plain = Normalisation()
    stretched = normalise_batch(crops, Normalisation(stretch=1.0))
    # Back to 0..1 pixel values: the crop now spans (nearly) all of them.
    pixels = stretched * np.array(plain.std)[:, None, None] + np.array(plain.mean)[:, None, None]
    assert pixels.min() == pytest.approx(0.0, abs=1e-6) and pixels.max() == pytest.approx(1.0, abs=1e-6)
    assert np.percentile(pixels, 50) == pytest.approx(0.5, abs=0.05)
    # The same gain and offset for all three channels: a grey pixel stays grey.
    grey = np.full((1, 8, 8, 3), 130, np.uint8)
    grey[0, :4] = 110
    out = normalise_batch(grey, Normalisation(stretch=1.0))
    pixels = out * np.array(plain.std)[:, None, None] + np.array(plain.mean)[:, None, None]
    np.testing.assert_allclose(pixels[0, 0], pixels[0, 1], atol=1e-6)
    np.testing.assert_allclose(pixels[0, 1], pixels[0, 2], atol=1e-6)


def test_contrast_stretch_caps_the_gain_on_a_flat_crop_and_is_off_by_default() -> None:
    flat = np.full((1, 16, 16, 3), 120, np.uint8)
    flat[0, ::2] = 122  # sensor noise on a blank wall
    plain = Normalisation()
    pixels = (normalise_batch(flat, Normalisation(stretch=1.0)) * np.array(plain.std)[:, None, None]
              + np.array(plain.mean)[:, None, None])
    assert np.ptp(pixels) == pytest.approx(2 / 255 * MAX_STRETCH_GAIN, rel=1e-4)  # not 255 / 2
    np.testing.assert_array_equal(normalise_batch(flat, Normalisation(stretch=0.0)), normalise_batch(flat, plain))
