"""Single-person evaluation through an inference backend (the same path as annotate and the app).

Protocol (LSP): each person is cropped from the square box around its ground-truth joints
(:func:`train.datasets.base.person_box`), the backend predicts joints in frame pixels, and PCK@0.2
is measured against the truth with torso = |L shoulder - R hip| (:func:`train.metrics.pck`).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
from tqdm import tqdm

from engine.backends.base import Backend
from engine.crop import CropBox
from engine.errors import InputError
from train.datasets.base import PoseSample
from train.pack import Pack


def predict_samples(backend: Backend, samples: Sequence[PoseSample], flip: bool = False, batch_size: int = 32,
                    progress: bool = True) -> np.ndarray:
    """Predict every sample's joints in batches.

    Returns:
        (N, K, 3) float32: x, y in the sample's image pixels and the backend's confidence.
    """
    k = backend.metadata.config.num_joints
    preds = np.empty((len(samples), k, 3), dtype=np.float32)
    with tqdm(total=len(samples), desc="evaluating", unit="img", disable=not progress) as bar:
        for start in range(0, len(samples), max(1, batch_size)):
            batch = samples[start:start + max(1, batch_size)]
            frames = []
            for s in batch:
                image = cv2.imread(str(s.image_path), cv2.IMREAD_COLOR)
                if image is None:
                    raise InputError(f"cannot decode image {s.image_path}")
                frames.append(image)
            preds[start:start + len(batch)] = backend.estimate(frames, [s.box for s in batch], flip=flip)
            bar.update(len(batch))
    return preds


def predict_pack_crops(backend: Backend, pack: Pack, flip: bool = False, batch_size: int = 32,
                       progress: bool = True) -> np.ndarray:
    """Predict the joints of every person in a pack, each cropped from its own person box (the pack
    crop's centred square of side ``pack.person_size``: the same protocol on resampled pixels).

    Returns:
        (N, K, 3) float32: x, y in pack-crop pixels (the frame of ``pack.joints``) and confidence.
    """
    centre = (pack.images.shape[1] - 1) / 2
    box = CropBox(centre, centre, pack.person_size)
    k = backend.metadata.config.num_joints
    preds = np.empty((len(pack), k, 3), dtype=np.float32)
    step = max(1, batch_size)
    with tqdm(total=len(pack), desc="evaluating", unit="img", disable=not progress) as bar:
        for start in range(0, len(pack), step):
            frames = list(pack.images[start:start + step])
            preds[start:start + len(frames)] = backend.estimate(frames, [box] * len(frames), flip=flip)
            bar.update(len(frames))
    return preds
