"""The torch crop/normalise/decode ops against the numpy/OpenCV reference, on CPU tensors.

The GPU backends run exactly these ops on CUDA tensors; on the CPU they must reproduce
``cv2.warpAffine`` + ``normalise_batch`` and ``decode_heatmaps`` so the GPU path is a drop-in.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from gpu_fixtures import (  # noqa: E402
    BLOB_META,
    BlobBackend,
    blob_heatmaps_torch,
    blob_scene,
    blob_truth_error,
    clip_frames,
    frame_boxes,
)

from engine.crop import CropBox, crop_matrix, normalise_batch, warp_crop  # noqa: E402
from engine.decoding import argmax_2d, decode_heatmaps, merge_flipped, zoom_to_crop  # noqa: E402
from engine.errors import InputError  # noqa: E402
from engine.gpu import ops as gpu_ops  # noqa: E402
from engine.gpu.device_estimate import DeviceEstimator  # noqa: E402
from engine.metadata import Normalisation  # noqa: E402

CPU = torch.device("cpu")
META = BLOB_META  # LSP14, 64 px input, 16x16 heatmaps
# One uint8 level: OpenCV rounds its (fixed-point) bilinear result, the torch warp keeps floats.
LEVEL = 1.0 / 255.0 / min(META.normalisation.std)


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    return clip_frames(count=4, step=20)


def _warp_on_device(frames: list[np.ndarray], boxes: list[CropBox], s: int) -> np.ndarray:
    matrices = np.stack([crop_matrix(b, s) for b in boxes])
    thetas = torch.from_numpy(gpu_ops.crop_thetas(matrices, frames[0].shape[:2], s))
    per_frame = len(boxes) // len(frames)
    index = [i // per_frame for i in range(len(boxes))]
    out = gpu_ops.warp_frames(gpu_ops.frames_to_float(torch.from_numpy(np.stack(frames))), thetas, index, s)
    return out.permute(0, 2, 3, 1).numpy()


@pytest.mark.parametrize("s", [64, 128])
def test_warp_matches_cv2_warp_affine(frames: list[np.ndarray], s: int) -> None:
    boxes = frame_boxes(frames, per_frame=3)  # rotated, scaled, some crossing the frame border
    ref = np.stack([warp_crop(frames[i // 3], b, s) for i, b in enumerate(boxes)]).astype(np.float32)
    got = _warp_on_device(frames, boxes, s)
    diff = np.abs(got - ref)
    # Borders included: grid_sample's zero padding is BORDER_CONSTANT 0, and the pixel-centre
    # conventions agree, so the only difference is OpenCV's 1/32 px fixed point and rounding.
    assert diff.max() <= 1.0
    assert diff.mean() < 0.2


def test_warp_of_an_identity_box_is_the_frame() -> None:
    frame = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    got = _warp_on_device([frame], [CropBox(31.5, 31.5, 64.0)], 64)
    np.testing.assert_allclose(got[0], frame.astype(np.float32), atol=1e-3)


def test_normalise_matches_numpy() -> None:
    crops = np.random.default_rng(1).integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    ref = normalise_batch(crops, META.normalisation)
    got = gpu_ops.normalise_crops(torch.from_numpy(crops).permute(0, 3, 1, 2).float(), META.normalisation)
    assert got.dtype == torch.float32 and got.is_contiguous()
    np.testing.assert_allclose(got.numpy(), ref, atol=1e-5)


def test_contrast_stretch_matches_numpy() -> None:
    # Low-contrast crops (a hazy, backlit person) and one flat crop, where the gain cap acts.
    rng = np.random.default_rng(2)
    crops = rng.integers(90, 150, (4, 32, 32, 3), dtype=np.uint8)
    crops[3] = 120 + rng.integers(0, 3, (32, 32, 3), dtype=np.uint8)
    norm = Normalisation(stretch=1.0)
    ref = normalise_batch(crops, norm)
    got = gpu_ops.normalise_crops(torch.from_numpy(crops).permute(0, 3, 1, 2).float(), norm)
    np.testing.assert_allclose(got.numpy(), ref, atol=1e-5)
    assert np.abs(ref - normalise_batch(crops, META.normalisation)).max() > 0.5  # it did stretch


def test_preprocess_groups_frames_and_matches_cpu(frames: list[np.ndarray]) -> None:
    small = np.ascontiguousarray(frames[0][::2, ::2])  # a second frame size in the same batch
    batch = [frames[0], frames[1], frames[0], small, frames[2], frames[1], frames[3], small]
    boxes = frame_boxes(batch, per_frame=1, seed=3)
    ref = normalise_batch(np.stack([warp_crop(f, b, 64) for f, b in zip(batch, boxes, strict=True)]),
                          META.normalisation)
    estimator = DeviceEstimator(META, CPU, max_frames_per_warp=2)  # forces several warp chunks
    got = estimator.preprocess(batch, boxes).numpy()
    assert got.shape == ref.shape
    assert np.abs(got - ref).max() <= LEVEL + 1e-4


def test_preprocess_rejects_non_uint8_frames() -> None:
    estimator = DeviceEstimator(META, CPU)
    with pytest.raises(InputError, match="uint8"):
        estimator.preprocess([np.zeros((8, 8, 3), np.float32)], [CropBox(4, 4, 8)])


def _synthetic_heatmaps(seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n, k, h, w = 12, 14, 32, 32
    yy, xx = np.mgrid[0:h, 0:w]
    cx = rng.uniform(-2, w + 1, (n, k, 1, 1))
    cy = rng.uniform(-2, h + 1, (n, k, 1, 1))
    sigma = rng.uniform(1.0, 3.0, (n, k, 1, 1))
    amp = rng.uniform(0.05, 1.2, (n, k, 1, 1))
    hm = amp * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * sigma**2))
    hm += rng.normal(0, 0.01, hm.shape)
    hm[0, 0] = 0.0  # a flat map: argmax ties go to the first pixel in both
    hm[0, 1] = rng.normal(0, 1, (h, w))  # no peak shape: DARK falls back to the quarter shift
    return hm.astype(np.float32)


def _assert_same_argmax(hm: np.ndarray) -> None:
    ref_x, ref_y, ref_v = argmax_2d(hm)
    got_x, got_y, got_v = (a.numpy() for a in gpu_ops.argmax_2d(torch.from_numpy(hm)))
    np.testing.assert_array_equal(got_x, ref_x)
    np.testing.assert_array_equal(got_y, ref_y)
    np.testing.assert_array_equal(got_v, ref_v)


@pytest.mark.parametrize(("refine", "blur"), [("dark", 1), ("dark", 3), ("dark", 5), ("dark", 7), ("dark", 9),
                                              ("quarter", 3), ("none", 3)])
def test_decode_matches_numpy(refine: str, blur: int) -> None:
    hm = _synthetic_heatmaps()
    ref = decode_heatmaps(hm, refine=refine, blur_kernel=blur)
    got = gpu_ops.decode_heatmaps(torch.from_numpy(hm), refine=refine, blur_kernel=blur)
    assert got.shape == (12, 14, 3) and got.dtype == torch.float32
    _assert_same_argmax(hm)
    np.testing.assert_allclose(got.numpy(), ref, atol=1e-4)


def test_decode_matches_numpy_on_network_heatmaps(tiny_checkpoint: Path, frames: list[np.ndarray]) -> None:
    from engine.backends.torch_backend import TorchBackend

    backend = TorchBackend(tiny_checkpoint)
    boxes = frame_boxes(frames, per_frame=2)
    crops = np.stack([warp_crop(frames[i // 2], b, 64) for i, b in enumerate(boxes)])
    hm = backend.infer(normalise_batch(crops, backend.metadata.normalisation))
    _assert_same_argmax(hm)
    np.testing.assert_allclose(gpu_ops.decode_heatmaps(torch.from_numpy(hm)).numpy(), decode_heatmaps(hm), atol=1e-4)


def test_decode_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="N, K, H, W"):
        gpu_ops.decode_heatmaps(torch.zeros(3, 8, 8))
    with pytest.raises(ValueError, match="refine"):
        gpu_ops.decode_heatmaps(torch.zeros(1, 1, 8, 8), refine="bogus")


def test_merge_flipped_matches_numpy() -> None:
    hm = _synthetic_heatmaps()
    perm = META.skeleton_spec.flip_permutation()
    ref = merge_flipped(hm[:6], hm[6:], perm)
    got = gpu_ops.merge_flipped(torch.from_numpy(hm[:6]), torch.from_numpy(hm[6:]), perm).numpy()
    np.testing.assert_array_equal(got, ref)


def test_zoom_resampling_matches_numpy() -> None:
    hm = _synthetic_heatmaps()
    ref = zoom_to_crop(hm, 0.85)
    got = gpu_ops.zoom_to_crop(torch.from_numpy(hm), 0.85).numpy()
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)


# ---- frame -> keypoints end to end, against the CPU path and a known answer ---------------------------

@pytest.mark.parametrize("flip", [False, True])
def test_device_estimate_matches_cpu_estimate_and_the_truth(flip: bool) -> None:
    frames, boxes, truth = blob_scene()
    cpu = BlobBackend(Path("blob"), BLOB_META).estimate(frames, boxes, flip=flip)
    dev = DeviceEstimator(BLOB_META, CPU).estimate(frames, boxes, flip, None, blob_heatmaps_torch)
    assert dev.shape == cpu.shape == (9, 14, 3) and dev.dtype == np.float32
    assert blob_truth_error(dev, cpu, boxes) < 0.01
    assert blob_truth_error(dev, truth, boxes) < 0.05
    np.testing.assert_allclose(dev[..., 2], cpu[..., 2], atol=5e-3)


@pytest.mark.parametrize("flip", [False, True])
def test_device_zoom_test_matches_cpu_and_the_truth(flip: bool) -> None:
    frames, boxes, truth = blob_scene(seed=1)
    cpu = BlobBackend(Path("blob"), BLOB_META).estimate(frames, boxes, flip=flip, zoom=0.85)
    dev = DeviceEstimator(BLOB_META, CPU).estimate(frames, boxes, flip, None, blob_heatmaps_torch, zoom=0.85)
    alone = DeviceEstimator(BLOB_META, CPU).estimate(frames, boxes, flip, None, blob_heatmaps_torch)
    assert blob_truth_error(dev, cpu, boxes) < 0.01
    assert blob_truth_error(dev, truth, boxes) < 0.05
    np.testing.assert_array_equal(dev[..., 2], alone[..., 2])  # the crop's own confidences


def test_device_zoom_test_matches_the_sides_of_a_mirrored_zoomed_read() -> None:
    from test_zoom_test import MirroringTwice, two_sided_pose

    pose, frame, box = two_sided_pose()
    alone = MirroringTwice(pose).estimate([frame], [box])
    stub = MirroringTwice(pose)  # its second call, the zoomed crop, reads the person mirrored
    got = DeviceEstimator(BLOB_META, CPU).estimate([frame], [box], False, None,
                                                   lambda x: torch.from_numpy(stub.infer(x.numpy())), zoom=0.85)
    np.testing.assert_allclose(got, alone, atol=0.25)


def test_device_estimate_times_the_pipeline_stages() -> None:
    from engine.timing import StageTimer

    frames, boxes, _ = blob_scene()
    timer = StageTimer()
    DeviceEstimator(BLOB_META, CPU).estimate(frames, boxes, False, timer, blob_heatmaps_torch)
    assert set(timer.ms) == {"preprocess", "infer", "decode-heatmaps"}


def test_device_estimate_of_no_boxes_is_empty() -> None:
    out = DeviceEstimator(BLOB_META, CPU).estimate([], [], False, None, blob_heatmaps_torch)
    assert out.shape == (0, 14, 3)


def test_device_estimate_reads_mirrored_only_the_crops_marked_unsure() -> None:
    frames, boxes, _ = blob_scene()
    estimator = DeviceEstimator(BLOB_META, CPU)
    plain = estimator.estimate(frames, boxes, False, None, blob_heatmaps_torch)
    flipped = estimator.estimate(frames, boxes, True, None, blob_heatmaps_torch)
    marked = np.zeros(len(boxes), bool)
    marked[[1, 4, 7]] = True  # three: the mirrored batch is padded to four (a power of two)
    seen: list[np.ndarray] = []
    batches: list[int] = []

    def unsure(poses: np.ndarray) -> np.ndarray:
        seen.append(poses.copy())
        return marked

    def infer(x):
        batches.append(len(x))
        return blob_heatmaps_torch(x)

    got = estimator.estimate(frames, boxes, False, None, infer, unsure)
    assert batches == [9, 4]
    assert len(seen) == 1 and seen[0].shape == (9, 14, 3)  # asked once, with every pose
    np.testing.assert_allclose(got[marked], flipped[marked], atol=1e-5)
    np.testing.assert_array_equal(got[~marked], plain[~marked])
    # The CPU path does the same.
    cpu = BlobBackend(Path("blob"), BLOB_META).estimate(frames, boxes, unsure=lambda poses: marked)
    assert blob_truth_error(got, cpu, boxes) < 0.01
    # With the zoom test, each zoomed crop is read mirrored where its crop was.
    batches.clear()
    estimator.estimate(frames, boxes, False, None, infer, unsure, zoom=0.85)
    assert batches == [9, 4, 9, 4]
