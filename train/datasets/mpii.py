"""MPII Human Pose: the official ``.mat`` release and the common JSON conversions.

Formats (16 joints in :data:`engine.skeleton.MPII16` order, ids 0..15):

* ``mpii_human_pose_v1_u12_1.mat``: ``RELEASE.annolist(i).image.name`` and
  ``RELEASE.annolist(i).annorect(j)`` with ``scale``, ``objpos.{x,y}`` and
  ``annopoints.point(p).{id,x,y,is_visible}``. People without ``annopoints`` (all test images and
  some training people) are skipped. A joint is labelled when its point is present.
* JSON, a list of people, either the ``train.json``/``valid.json`` style (``image``, ``center``,
  ``scale``, ``joints`` [[x, y]] and ``joints_vis``) or the ``mpii_annotations.json`` style
  (``img_paths``, ``objpos``, ``scale_provided``, ``joint_self`` [[x, y, v]], ``isValidation``).
  Converters write unannotated joints as (0, 0) or (-1, -1), so a joint is labelled when both of
  its (1-based) coordinates are positive, whatever its visibility flag says.

Frames: MPII coordinates are MATLAB 1-based; they are shifted by -1 into the project's frame
(pixel centres on 0-based integers). ``scale`` is the person's height / 200 px; the crop follows the
usual protocol: centre moved down by 15 * scale px, side 200 * 1.25 * scale px.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from engine.crop import CropBox
from engine.errors import ConfigError, InputError
from engine.json_input import read_json
from engine.skeleton import MPII16
from train.datasets.base import PoseSample
from train.datasets.matfile import read_mat

NUM_JOINTS = MPII16.num_joints
MPII_BOX_PADDING = 1.25
MPII_CENTRE_SHIFT = 15.0  # px per unit of scale, downwards: objpos sits near the belly, not mid-body


def mpii_box(centre_x: float, centre_y: float, scale: float) -> CropBox:
    """The person crop from MPII's 1-based ``objpos`` and ``scale`` (height / 200 px)."""
    return CropBox(centre_x - 1.0, centre_y - 1.0 + MPII_CENTRE_SHIFT * scale, 200.0 * scale * MPII_BOX_PADDING)


def _sample(images: Path, name: str, joints_1based: np.ndarray, centre: Iterable[float],
            scale: float) -> PoseSample | None:
    """One person from 1-based joints (16, 2+) with a labelled flag in column 2; None if unusable."""
    cx, cy = (float(v) for v in centre)
    if not (scale > 0 and cx > 0 and cy > 0) or not (joints_1based[:, 2] > 0).any():
        return None
    joints = np.zeros((NUM_JOINTS, 3), dtype=np.float32)
    lab = joints_1based[:, 2] > 0
    joints[lab, :2] = joints_1based[lab, :2] - 1.0
    joints[lab, 2] = 1.0
    return PoseSample(images / name, joints, mpii_box(cx, cy, float(scale)))


# ----------------------------------------------------------------------------------------- JSON


def _json_person(entry: dict[str, Any], images: Path) -> PoseSample | None:
    if "joint_self" in entry:  # mpii_annotations.json style
        name, centre, scale = entry["img_paths"], entry["objpos"], entry["scale_provided"]
        xy = np.asarray(entry["joint_self"], dtype=np.float64)[:, :2]
    else:  # train.json / valid.json style
        name, centre, scale = entry["image"], entry["center"], entry["scale"]
        xy = np.asarray(entry["joints"], dtype=np.float64)[:, :2]
    if xy.shape != (NUM_JOINTS, 2):
        raise ValueError(f"expected {NUM_JOINTS} joints, got shape {xy.shape}")
    labelled = (xy[:, 0] > 0) & (xy[:, 1] > 0)
    return _sample(images, str(name), np.column_stack([xy, labelled]), centre, float(scale))


def load_mpii_json(path: Path, images: Path, validation: bool | None = None) -> list[PoseSample]:
    """People of an MPII JSON file (see module docstring); images are ``images / name``.

    Args:
        validation: None for every person; True or False to keep only those whose
            ``isValidation`` flag matches (a ConfigError when the file has no such flag).
    """
    path = Path(path)
    entries = read_json(path, "annotation file")
    if not isinstance(entries, list):
        raise InputError(f"{path}: expected a JSON list of people, got {type(entries).__name__}")
    samples = []
    for i, entry in enumerate(entries):
        if validation is not None:
            if "isValidation" not in entry:
                raise ConfigError(f"{path} has no isValidation flags; give the validation people "
                                  "in a separate file")
            if bool(entry["isValidation"]) != validation:
                continue
        try:
            sample = _json_person(entry, Path(images))
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise InputError(f"{path}: person {i} is malformed ({exc.__class__.__name__}: {exc})") from None
        if sample is not None:
            samples.append(sample)
    return samples


# ------------------------------------------------------------------------------------------ .mat


def _items(value: Any) -> list[Any]:
    """A MATLAB struct array or cell read with ``squeeze_me``: one element, an array, or empty."""
    if isinstance(value, np.ndarray):
        return list(value.ravel())
    return [value]


def _number(value: Any) -> float:
    """A scalar that ``squeeze_me`` may hand over as a number, a 0-d/1-element array or a string."""
    arr = np.asarray(value).ravel()
    if arr.size != 1:
        raise ValueError(f"expected one number, got {arr.size} values")
    return float(arr[0])


def _mat_person(rect: Any, images: Path, name: str) -> PoseSample | None:
    fields = getattr(rect, "_fieldnames", ())
    if not {"annopoints", "scale", "objpos"} <= set(fields):
        return None
    points_struct = rect.annopoints
    if not hasattr(points_struct, "point"):  # an empty [] where the person has no joints
        return None
    try:
        scale = _number(rect.scale)
        centre = (_number(rect.objpos.x), _number(rect.objpos.y))
    except (AttributeError, ValueError):
        return None  # no usable scale or position: cannot be cropped by the protocol
    joints = np.zeros((NUM_JOINTS, 3), dtype=np.float64)
    for point in _items(points_struct.point):
        jid = int(_number(point.id))
        if 0 <= jid < NUM_JOINTS:
            joints[jid] = (_number(point.x), _number(point.y), 1.0)
    return _sample(images, name, joints, centre, scale)


def load_mpii_mat(path: Path, images: Path) -> list[PoseSample]:
    """Annotated people of the official ``mpii_human_pose_v1_u12_1.mat`` (training images only,
    since the test images carry no joints)."""
    mat = read_mat(Path(path), struct_as_record=False, squeeze_me=True)
    if "RELEASE" not in mat:
        raise InputError(f"{path} has no RELEASE struct: not the MPII release file")
    try:
        release = mat["RELEASE"]
        annolist = _items(release.annolist)
        is_train = np.asarray(release.img_train).ravel() if hasattr(release, "img_train") else None
        samples = []
        for i, anno in enumerate(annolist):
            if is_train is not None and i < len(is_train) and not is_train[i]:
                continue
            name = str(anno.image.name)
            rects = _items(anno.annorect) if hasattr(anno, "annorect") else []
            for rect in rects:
                sample = _mat_person(rect, Path(images), name)
                if sample is not None:
                    samples.append(sample)
    except (AttributeError, TypeError, ValueError) as exc:
        raise InputError(f"{path}: unexpected MPII structure ({exc.__class__.__name__}: {exc})") from None
    return samples


def load_mpii(annotations: Path, images: Path, validation: bool | None = None) -> list[PoseSample]:
    """Annotated people of an MPII ``.mat`` or ``.json`` file, by extension (``validation``: see
    :func:`load_mpii_json`; the ``.mat`` release has no validation flag)."""
    if Path(annotations).suffix.lower() == ".mat":
        if validation is not None:
            raise ConfigError(f"{annotations} has no validation flags; give the validation people "
                              "in a separate file")
        return load_mpii_mat(annotations, images)
    return load_mpii_json(annotations, images, validation)
