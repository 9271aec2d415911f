"""Dataset packs: one compact ``.npz`` file of person-centred JPEG crops and their joints.

Decoding full photos and cropping every epoch wastes CPU; a pack is made once (``hgpose prepare``),
is small enough to copy to a remote GPU machine (LSPET: ~53 + 6 MB), and decodes into memory in seconds.

Pack frame: each crop is ``pack_size`` pixels square, centred on the person box, with side
``context * box.size`` image pixels; joints are stored in crop pixels (pixel centres on integers).
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from engine.atomic import atomic_path
from engine.crop import CropBox, apply_affine, crop_matrix, warp_crop
from engine.errors import InputError
from train.datasets.base import PoseSample
from train.npz import open_npz
from train.teachers import FACE_JOINTS

PACK_FORMAT = 1
FACE_POINTS = len(FACE_JOINTS)  # auxiliary face targets per person


@dataclass(frozen=True)
class PackSpec:
    """How crops are cut: side in pixels, context around the person box, JPEG quality."""

    # LSPET people are about 150 px tall (person box median 148 px): 224 px at context 1.5 keeps
    # them at their native size, and quality 95 keeps the fine detail (a face, a shoe's toe) that
    # tells front from back. The earlier 160 px / quality 78 stored them at 72 % and blurred them.
    pack_size: int = 224
    context: float = 1.5
    jpeg_quality: int = 95


@dataclass(frozen=True)
class Pack:
    """A decoded pack in memory.

    Attributes:
        images: (N, P, P, 3) uint8 BGR crops.
        joints: (N, K, 3) float32 in crop pixels, third column 1 for labelled joints.
        teacher: (N, K, 3) float32 soft targets in crop pixels, third column their weight (0: none),
            or None for a pack made without teachers (``hgpose prepare --teachers``).
        face: (N, 5, 3) float32 auxiliary face targets in crop pixels (nose, eyes, ears: x, y,
            height; heights -1 for a person without any, :func:`train.teachers.face_targets`), or None.
        boxes: (N, 4) float32 source person boxes (cx, cy, size, rotation) in image pixels.
        names: N source image names.
        info: the pack's header (spec, skeleton, source).
    """

    images: np.ndarray
    joints: np.ndarray
    boxes: np.ndarray
    names: tuple[str, ...]
    info: dict
    teacher: np.ndarray | None = None
    face: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.images)

    @property
    def person_size(self) -> float:
        """Side of the person box in crop pixels."""
        return float(self.info["pack_size"]) / float(self.info["context"])

    @property
    def person_box(self) -> CropBox:
        """The person's box in crop pixels: centred, ``person_size`` wide (the evaluation crop)."""
        centre = (self.images.shape[1] - 1) / 2
        return CropBox(centre, centre, self.person_size)


def _to_crop(points: np.ndarray, matrix: np.ndarray, keep: bool = False) -> np.ndarray:
    """(K, 3) image-pixel points with a weight column -> crop pixels; unweighted points zeroed
    unless ``keep`` (face targets: a point of height 0 is still a target)."""
    out = points.astype(np.float32, copy=True)
    out[:, :2] = apply_affine(matrix, np.nan_to_num(points[:, :2]))
    if not keep:
        out[out[:, 2] <= 0, :2] = 0.0
    return out


Encoded = tuple[bytes, np.ndarray, np.ndarray | None, np.ndarray | None]  # JPEG, joints, teacher, face


def _encode(sample: PoseSample, spec: PackSpec) -> Encoded:
    image = cv2.imread(str(sample.image_path), cv2.IMREAD_COLOR)
    if image is None:
        raise InputError(f"cannot decode image {sample.image_path}")
    box = CropBox(sample.box.cx, sample.box.cy, sample.box.size * spec.context)
    crop = warp_crop(image, box, spec.pack_size, interpolation=cv2.INTER_AREA
                     if box.size > spec.pack_size else cv2.INTER_LINEAR)
    ok, buf = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, spec.jpeg_quality])
    if not ok:
        raise InputError(f"cannot encode a crop of {sample.image_path}")
    m = crop_matrix(box, spec.pack_size)
    teacher = None if sample.teacher is None else _to_crop(sample.teacher, m)
    face = None if sample.face is None else _to_crop(sample.face, m, keep=True)
    return buf.tobytes(), _to_crop(sample.joints, m), teacher, face


def _encoded(samples: Sequence[PoseSample], spec: PackSpec, workers: int) -> Iterator[Encoded]:
    """``_encode`` over ``samples`` in order, in ``workers`` processes (JPEG decode dominates)."""
    if workers <= 1:
        yield from (_encode(s, spec) for s in samples)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        yield from pool.map(partial(_encode, spec=spec), samples, chunksize=16)


def write_pack(samples: Sequence[PoseSample], out: Path, spec: PackSpec, *, skeleton: str,
               source: str, progress: bool = True, workers: int = 1, extra_info: dict | None = None) -> Path:
    """Crop, encode (in ``workers`` processes) and write ``samples`` to ``out`` atomically; returns ``out``.

    Samples' teacher keypoints and face targets are packed (as ``teacher``, ``face``) when every
    sample has them.
    ``extra_info`` goes into the header (e.g. what label cleaning did).
    """
    if not samples:
        raise InputError(f"no samples to pack into {Path(out).name}")
    blobs, joints, teachers, faces = [], [], [], []
    for blob, j, t, f in tqdm(_encoded(samples, spec, workers), total=len(samples), desc=f"packing {Path(out).name}",
                           unit="img", disable=not progress):
        blobs.append(np.frombuffer(blob, dtype=np.uint8))
        joints.append(j)
        teachers.append(t)
        faces.append(f)
    offsets = np.zeros(len(blobs) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(b) for b in blobs])
    info = {"format": PACK_FORMAT, "pack_size": spec.pack_size, "context": spec.context,
            "jpeg_quality": spec.jpeg_quality, "skeleton": skeleton, "source": source, "count": len(blobs),
            **(extra_info or {})}
    boxes = np.array([[s.box.cx, s.box.cy, s.box.size, s.box.rotation] for s in samples], dtype=np.float32)
    arrays: dict[str, np.ndarray] = {
        "jpeg": np.concatenate(blobs), "offsets": offsets, "joints": np.stack(joints), "boxes": boxes,
        "names": np.array([s.image_path.name for s in samples]), "info": np.array(json.dumps(info))}
    for key, values in (("teacher", teachers), ("face", faces)):
        present = [v for v in values if v is not None]
        if len(present) == len(values):
            arrays[key] = np.stack(present)
    with atomic_path(Path(out)) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)  # type: ignore[arg-type]  # numpy's stub types every **kwarg as allow_pickle
    return Path(out)


def read_pack(path: Path, progress: bool = False) -> Pack:
    """Load and decode a pack into memory (decode once, then every epoch reuses the pixels)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"pack {path} does not exist (make it with `hgpose prepare`)")
    not_a_pack = f"{path} is not an hgpose pack (make one with `hgpose prepare`)"
    try:
        with open_npz(path, not_a_pack) as z:
            info = json.loads(str(z["info"]))
            jpeg, offsets = z["jpeg"], z["offsets"]
            joints, boxes, names = z["joints"], z["boxes"], tuple(str(n) for n in z["names"])
            teacher = z["teacher"].astype(np.float32) if "teacher" in z.files else None
            face = z["face"].astype(np.float32) if "face" in z.files else None
    except KeyError:  # an .npz of something else
        raise InputError(not_a_pack) from None
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise InputError(f"{path} is a damaged hgpose pack ({exc.__class__.__name__}); "
                         "re-run `hgpose prepare`") from None
    if info.get("format") != PACK_FORMAT:
        raise InputError(f"{path}: pack format {info.get('format')} is not supported (expected {PACK_FORMAT})")
    p = int(info["pack_size"])
    images = np.empty((len(names), p, p, 3), dtype=np.uint8)
    for i in tqdm(range(len(names)), desc=f"decoding {path.name}", unit="img", disable=not progress):
        img = cv2.imdecode(jpeg[offsets[i]:offsets[i + 1]], cv2.IMREAD_COLOR)
        if img is None or img.shape != (p, p, 3):
            raise InputError(f"{path}: crop {i} is corrupt")
        images[i] = img
    if teacher is not None and teacher.shape != joints.shape:
        raise InputError(f"{path}: teacher targets {teacher.shape} do not match the joints {joints.shape}")
    if face is not None and face.shape != (len(names), FACE_POINTS, 3):
        raise InputError(f"{path}: face targets {face.shape} are not ({len(names)}, {FACE_POINTS}, 3)")
    return Pack(images=images, joints=joints.astype(np.float32), boxes=boxes, names=names, info=info,
                teacher=teacher, face=face)


def concat_packs(packs: Sequence[Pack], names: Sequence[str]) -> Pack:
    """One pack of all of ``packs`` (e.g. LSPET + MPII, or one dataset split to travel in parts).

    They must share the crop geometry (pack size, context) and the skeleton, so one augmentation
    and one heatmap size serve every sample; ``names`` name the packs in errors.
    """
    if len(packs) == 1:
        return packs[0]
    first = packs[0].info
    for pack, name in zip(packs[1:], names[1:], strict=True):
        for key in ("pack_size", "context", "skeleton"):
            if pack.info.get(key) != first.get(key):
                raise InputError(f"{name} has {key} {pack.info.get(key)} but {names[0]} has {first.get(key)}; "
                                 "packs trained on together must match (re-run `hgpose prepare` alike)")
    info = {**first, "source": " + ".join(str(p.info.get("source", n)) for p, n in zip(packs, names, strict=True))}
    # A pack without teachers contributes no soft targets (weight 0), so packs with and without mix.
    teacher = None if all(p.teacher is None for p in packs) else np.concatenate(
        [p.teacher if p.teacher is not None else np.zeros_like(p.joints) for p in packs])
    # Likewise a pack without face targets: heights -1, no target.
    no_face = np.array((0.0, 0.0, -1.0), dtype=np.float32)
    face = None if all(p.face is None for p in packs) else np.concatenate(
        [p.face if p.face is not None else np.tile(no_face, (len(p), FACE_POINTS, 1)) for p in packs])
    return Pack(images=np.concatenate([p.images for p in packs]), joints=np.concatenate([p.joints for p in packs]),
                boxes=np.concatenate([p.boxes for p in packs]), names=tuple(n for p in packs for n in p.names),
                info=info, teacher=teacher, face=face)


def default_workers() -> int:
    return max(1, min(4, (os.cpu_count() or 1)))
