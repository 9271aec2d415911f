"""Single-person evaluation through an inference backend (the same path as annotate and the app).

Protocol (LSP): each person is cropped from the square box around its ground-truth joints
(:func:`train.datasets.base.person_box`), the backend predicts joints in frame pixels, and PCK@0.2
is measured against the truth with torso = |L shoulder - R hip| (:func:`train.metrics.pck`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import cv2
import numpy as np
from tqdm import tqdm

from engine.backends.base import Backend
from engine.crop import CropBox
from engine.errors import InputError
from engine.pipeline import ZOOM_TEST
from train.datasets.base import PoseSample
from train.pack import Pack


def predict_samples(backend: Backend, samples: Sequence[PoseSample], flip: bool = False, batch_size: int = 32,
                    progress: bool = True, zoom_test: bool = False) -> np.ndarray:
    """Predict every sample's joints in batches, each person cropped from its box.

    Returns:
        (N, K, 3) float32: x, y in the sample's image pixels and the backend's confidence.
    """
    def load(start: int, stop: int) -> tuple[list[np.ndarray], list[CropBox]]:
        frames = []
        for s in samples[start:stop]:
            image = cv2.imread(str(s.image_path), cv2.IMREAD_COLOR)
            if image is None:
                raise InputError(f"cannot decode image {s.image_path}")
            frames.append(image)
        return frames, [s.box for s in samples[start:stop]]

    return _predict(backend, len(samples), load, flip, batch_size, progress, zoom_test)


def predict_pack_crops(backend: Backend, pack: Pack, flip: bool = False, batch_size: int = 32,
                       progress: bool = True, zoom_test: bool = False) -> np.ndarray:
    """Predict the joints of every person in a pack, each cropped from its own person box
    (:attr:`train.pack.Pack.person_box`: the same protocol on resampled pixels).

    Returns:
        (N, K, 3) float32: x, y in pack-crop pixels (the frame of ``pack.joints``) and confidence.
    """
    def load(start: int, stop: int) -> tuple[list[np.ndarray], list[CropBox]]:
        return list(pack.images[start:stop]), [pack.person_box] * (stop - start)

    return _predict(backend, len(pack), load, flip, batch_size, progress, zoom_test)


def _predict(backend: Backend, n: int, load: Callable[[int, int], tuple[list[np.ndarray], list[CropBox]]],
             flip: bool, batch_size: int, progress: bool, zoom_test: bool = False) -> np.ndarray:
    """Run ``backend.estimate`` over people ``0..n`` in batches; ``load(start, stop)`` gives their
    frames and crop boxes, and ``zoom_test`` adds the pipeline's zoom test
    (:attr:`engine.pipeline.PipelineConfig.zoom_test`). Returns (n, K, 3) float32 in frame pixels."""
    zoom = ZOOM_TEST if zoom_test else None
    preds = np.empty((n, backend.metadata.config.num_joints, 3), dtype=np.float32)
    step = max(1, batch_size)
    with tqdm(total=n, desc="evaluating", unit="img", disable=not progress) as bar:
        for start in range(0, n, step):
            stop = min(start + step, n)
            frames, boxes = load(start, stop)
            preds[start:stop] = backend.estimate(frames, boxes, flip=flip, zoom=zoom)
            bar.update(stop - start)
    return preds
