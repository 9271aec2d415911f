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
    warp_crop,
)


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
