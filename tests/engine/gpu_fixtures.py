"""Models and frames shared by the GPU, TensorRT and FP16 tests.

Plain functions, not fixtures: each test module wraps what it needs in a module-scoped fixture,
so no conftest is shared with other suites.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from engine.assets import DEFAULT_CLIP_NAME
from engine.backends.base import Backend
from engine.crop import CropBox
from engine.metadata import HourglassConfig, ModelMetadata

REPO = Path(__file__).resolve().parents[2]
CLIPS = (REPO / "assets" / "media" / DEFAULT_CLIP_NAME, REPO.parent / "shared" / "media" / DEFAULT_CLIP_NAME)


def clip_frames(count: int = 6, step: int = 15) -> list[np.ndarray]:
    """``count`` (720, 1280, 3) uint8 BGR frames of the walker clip, ``step`` frames apart."""
    path = next((p for p in CLIPS if p.is_file()), None)
    if path is None:
        pytest.skip("the walker clip is neither bundled (assets/media) nor in ../shared/media")
    cap = cv2.VideoCapture(str(path))
    frames: list[np.ndarray] = []
    index = 0
    while len(frames) < count:
        ok, frame = cap.read()
        if not ok:
            break
        if index % step == 0:
            frames.append(frame)
        index += 1
    cap.release()
    assert len(frames) == count, f"{path} has fewer than {count * step} frames"
    return frames


def frame_boxes(frames: list[np.ndarray], per_frame: int = 2, seed: int = 0) -> list[CropBox]:
    """Varied crops (position, size, rotation, some over the border), ``per_frame`` for each frame,
    in frame order."""
    rng = np.random.default_rng(seed)
    boxes = []
    for frame in frames:
        h, w = frame.shape[:2]
        for _ in range(per_frame):
            boxes.append(CropBox(rng.uniform(0.2, 0.8) * w, rng.uniform(0.2, 0.8) * h,
                                 rng.uniform(0.2, 0.9) * h, rng.uniform(-30.0, 30.0)))
    return boxes


# ---- a scene with a known answer ----------------------------------------------------------------
# Frames holding one Gaussian blob each, and a stand-in "network" whose every heatmap is the crop's
# brightness pooled over the model's 4x4 heatmap cells. Decoding must then land on the blob centre,
# which checks the whole frame -> crop -> heatmap -> frame coordinate chain against ground truth.

BLOB_META = ModelMetadata(skeleton="lsp14", config=HourglassConfig(num_stacks=1, width=16, num_joints=14,
                                                                   input_size=64, depth=2), name="blob")
_MEAN = np.asarray(BLOB_META.normalisation.mean, np.float32)[:, None, None]
_STD = np.asarray(BLOB_META.normalisation.std, np.float32)[:, None, None]


def blob_heatmaps_np(x: np.ndarray) -> np.ndarray:
    """(N, 3, S, S) normalised crops -> (N, K, S/4, S/4): brightness pooled 4x4, the same for every joint."""
    grey = (x * _STD + _MEAN).mean(axis=1)
    n, s, _ = grey.shape
    hm = grey.reshape(n, s // 4, 4, s // 4, 4).mean(axis=(2, 4))
    return np.repeat(hm[:, None], BLOB_META.config.num_joints, axis=1).astype(np.float32)


def blob_heatmaps_torch(x: Any) -> Any:
    """The torch twin of :func:`blob_heatmaps_np`, on ``x``'s device."""
    import torch
    from torch.nn import functional as F

    grey = (x * torch.from_numpy(_STD).to(x.device) + torch.from_numpy(_MEAN).to(x.device)).mean(dim=1, keepdim=True)
    return F.avg_pool2d(grey, 4).repeat(1, BLOB_META.config.num_joints, 1, 1)


class BlobBackend(Backend):
    """The CPU reference path (``Backend.estimate``) around :func:`blob_heatmaps_np`."""

    def infer(self, batch: np.ndarray) -> np.ndarray:
        return blob_heatmaps_np(batch)


def blob_scene(seed: int = 0, num_frames: int = 3, per_frame: int = 3
               ) -> tuple[list[np.ndarray], list[CropBox], np.ndarray]:
    """Frames (the same object repeated per box, as the pipeline passes them), rotated and scaled
    boxes around each blob, and the (N, 2) true blob centres in frame pixels."""
    rng = np.random.default_rng(seed)
    h, w = 360, 640
    yy, xx = np.mgrid[0:h, 0:w]
    frames, boxes, truth = [], [], []
    for _ in range(num_frames):
        cx, cy = rng.uniform(150, w - 150), rng.uniform(120, h - 120)
        blob = np.rint(230 * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * 7.0**2))).astype(np.uint8)
        frame = np.repeat(blob[..., None], 3, axis=2)
        for _ in range(per_frame):
            size = rng.uniform(80, 220)
            boxes.append(CropBox(cx + rng.uniform(-0.2, 0.2) * size, cy + rng.uniform(-0.2, 0.2) * size, size,
                                 rng.uniform(-40, 40)))
            frames.append(frame)
            truth.append((cx, cy))
    return frames, boxes, np.asarray(truth)


def blob_truth_error(keypoints: np.ndarray, other: np.ndarray, boxes: list[CropBox]) -> float:
    """Largest distance between (N, K, >=2) keypoints and ``other`` ((N, K, 2) or (N, 2)), in heatmap
    pixels of each box (frame pixels / (box size / S * 4)), so every box weighs alike."""
    other = other if other.ndim == 3 else other[:, None]
    scale = np.array([b.size / BLOB_META.input_size * 4 for b in boxes])[:, None]
    return float((np.linalg.norm(keypoints[..., :2] - other[..., :2], axis=-1) / scale).max())


# ---- comparing a GPU backend with a CPU reference ------------------------------------------------------

def assert_infer_close(backend: Backend, reference: Backend, batch: int, rtol: float = 2e-2) -> None:
    """``backend.infer`` matches ``reference.infer`` on random (batch, 3, S, S) input, relative to the
    heatmaps' scale (FP16 on the GPU against FP32 or FP16 on the CPU)."""
    s = reference.metadata.input_size
    x = np.random.default_rng(batch).standard_normal((batch, 3, s, s)).astype(np.float32)
    ref = reference.infer(x)
    got = backend.infer(x)
    assert got.shape == ref.shape and got.dtype == np.float32
    assert np.abs(got - ref).max() < rtol * max(1.0, float(np.abs(ref).max()))


def joint_agreement(got: np.ndarray, ref: np.ndarray, boxes: list[CropBox], input_size: int) -> float:
    """Fraction of (N, K) joints placed within one heatmap pixel of the reference. A random
    network's near-tied heatmaps may pick another pixel under FP16 and a float warp, so a GPU
    backend is compared with its CPU counterpart on this fraction, not on exact equality."""
    scale = np.array([b.size / input_size * 4 for b in boxes])[:, None]
    return float((np.linalg.norm(got[..., :2] - ref[..., :2], axis=-1) / scale < 1.0).mean())
