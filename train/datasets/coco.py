"""COCO person keypoints (``person_keypoints_*.json``), read with :mod:`json` (no pycocotools).

Each non-crowd person instance with at least ``min_joints`` labelled keypoints becomes one sample
with 17 joints in :data:`engine.skeleton.COCO17` order. COCO's visibility ``v`` is 0 (not labelled),
1 (labelled, occluded) or 2 (labelled, visible); the loader keeps "labelled" (v > 0).

Frames: keypoints are used as stored (COCO annotators click pixels, read here as pixel centres).
The crop is the annotated ``bbox`` (x, y, w, h with pixel edges on integers) made square: its
centre moved into the pixel-centre frame, side ``1.25 * max(w, h)`` as in the LSP protocol.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from engine.crop import CropBox
from engine.errors import InputError
from engine.json_input import read_json_object
from engine.skeleton import COCO17
from train.datasets.base import PERSON_BOX_PADDING, PoseSample

NUM_JOINTS = COCO17.num_joints
PERSON_CATEGORY = 1


def coco_box(bbox: list[float], padding: float = PERSON_BOX_PADDING) -> CropBox:
    """Square crop around a COCO ``[x, y, w, h]`` box (edges on integers) in the pixel-centre frame."""
    x, y, w, h = (float(v) for v in bbox)
    return CropBox(x + w / 2 - 0.5, y + h / 2 - 0.5, max(w, h, 1.0) * padding)


def _read_json(path: Path) -> dict[str, Any]:
    data = read_json_object(path, "annotation file")
    if "images" not in data or "annotations" not in data:
        raise InputError(f"{path} is not a COCO annotation file (no 'images' and 'annotations')")
    return data


def load_coco(annotations: Path, images: Path, min_joints: int = 1) -> list[PoseSample]:
    """Person instances of a COCO keypoints file; image files are ``images / file_name``."""
    data = _read_json(Path(annotations))
    try:
        files = {int(img["id"]): str(img["file_name"]) for img in data["images"]}
        samples = []
        for ann in data["annotations"]:
            if ann.get("iscrowd", 0) or ann.get("category_id", PERSON_CATEGORY) != PERSON_CATEGORY:
                continue
            kp = np.asarray(ann.get("keypoints", []), dtype=np.float32)
            if kp.size != NUM_JOINTS * 3:
                continue  # not a keypoint annotation
            joints = kp.reshape(NUM_JOINTS, 3)
            joints[:, 2] = joints[:, 2] > 0
            joints[joints[:, 2] == 0, :2] = 0.0
            if joints[:, 2].sum() < max(min_joints, 1) or "bbox" not in ann:
                continue
            samples.append(PoseSample(Path(images) / files[int(ann["image_id"])], joints, coco_box(ann["bbox"])))
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"{annotations}: malformed COCO annotation ({exc.__class__.__name__}: {exc})") from None
    return samples
