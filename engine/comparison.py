"""Compare two keypoint files of the same source: a prediction against a reference.

Both files are in the ``hgpose.annotations/1`` schema (see :mod:`engine.annotations`). A reference
may hold ``null`` for a joint it does not define and ``"keypoints": null`` for a frame without a
person. Coordinates are source pixels in both.

Definitions (the reference decides where a person is and how big):

- *torso*: ‖L shoulder − R hip‖ of the reference, else 1.6 × its shoulder width; a frame with
  neither is left out of PCK.
- *drawn*: a predicted joint whose score is at or above the prediction's drawing threshold
  (``angle_min_confidence``), as the app and rendered videos show it.
- *found*: share of reference frames with a person where the prediction draws at least 60 % of the
  judged joints (6 of the default 10).
- *PCK drawn*: PCK@0.2 over the reference's judged joints, a joint not drawn counting as wrong (what a
  user sees); *PCK all*: the same for every predicted position, drawn or not.
- *legs in box*: share of the reference's judged knees and ankles inside the prediction's crop box.
- *first*: first frame found minus the reference's first frame with a person.
- *drawn right*: share of the drawn joints (where the reference gives the joint) that are within
  PCK@0.2: what fraction of what a user sees is right, the other side of *PCK drawn*.
- *separating threshold*: the score that best separates the prediction's right joints from its wrong
  ones on this clip (Youden's J, as a model's threshold is calibrated on validation crops): whether
  this footage wants another drawing threshold than the model's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.annotations import SCHEMA
from engine.calibration import youden_threshold
from engine.errors import InputError
from engine.json_input import read_json_object
from engine.skeleton import COMMON_JOINTS

# Judged by default: the joints two strong pose models (the references') define as LSP does.
DEFAULT_JOINTS = COMMON_JOINTS
PCK_FRACTION = 0.2
FOUND_FRACTION = 0.6


@dataclass(frozen=True)
class KeypointFile:
    """One annotation file as arrays.

    Attributes:
        path: where it was read from.
        source: the ``source`` header.
        joints: joint names in skeleton order (K).
        keypoints: (F, K, 3) float64 x, y, score in source pixels; NaN where a frame has no person or
            a joint is null.
        boxes: (F, 4) float64 crop boxes x0, y0, x1, y1; NaN where a frame has none.
        threshold: the drawing threshold ``angle_min_confidence`` (None when the file has none).
        indices: (F,) the frames' ``index`` values, ascending (rows are in this order).
    """

    path: Path
    source: dict[str, Any]
    joints: tuple[str, ...]
    keypoints: np.ndarray
    boxes: np.ndarray
    threshold: float | None
    indices: np.ndarray


def load_keypoints(path: Path) -> KeypointFile:
    """Read an ``hgpose.annotations/1`` file; a missing, unreadable or malformed one is an InputError."""
    data = read_json_object(path, "keypoint file")
    if data.get("schema") != SCHEMA:
        raise InputError(f"{path}: not an {SCHEMA} file")
    try:
        joints = tuple(str(j) for j in data["skeleton"]["joints"])
        frames = sorted(data["frames"], key=lambda f: int(f["index"]))
        k = len(joints)
        kps = np.full((len(frames), k, 3), np.nan)
        boxes = np.full((len(frames), 4), np.nan)
        for i, frame in enumerate(frames):
            if frame.get("keypoints") is not None:
                if len(frame["keypoints"]) != k:
                    raise InputError(f"{path}: frame {frame['index']} has {len(frame['keypoints'])} joints, "
                                     f"the skeleton {k}")
                for j, point in enumerate(frame["keypoints"]):
                    if point is not None:
                        kps[i, j] = [np.nan if v is None else float(v) for v in point[:3]]
            if frame.get("box") is not None:
                boxes[i] = [float(v) for v in frame["box"]]
        threshold = data.get("angle_min_confidence")
        return KeypointFile(Path(path), dict(data.get("source") or {}), joints, kps, boxes,
                            None if threshold is None else float(threshold),
                            np.array([int(f["index"]) for f in frames], dtype=np.int64))
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"{path}: malformed {SCHEMA} file ({exc!r})") from None


def check_same_source(a: dict[str, Any], a_path: Path, b: dict[str, Any], b_path: Path) -> None:
    """Raise InputError unless two ``source`` headers name the same file (by name) and, where both
    give one, the same frame size."""
    names = Path(str(a.get("path", ""))).name, Path(str(b.get("path", ""))).name
    if names[0] != names[1]:
        raise InputError(f"different sources: {a_path} is of {names[0]!r}, {b_path} of {names[1]!r}")
    sizes = [(f.get("width"), f.get("height")) for f in (a, b)]
    if None not in sizes[0] + sizes[1] and sizes[0] != sizes[1]:
        raise InputError(f"different frame sizes: {a_path} {sizes[0]}, {b_path} {sizes[1]}")


def check_comparable(pred: KeypointFile, ref: KeypointFile) -> None:
    """Raise InputError unless both files describe the same source, frames and skeleton."""
    check_same_source(pred.source, pred.path, ref.source, ref.path)
    if len(pred.keypoints) != len(ref.keypoints):
        raise InputError(f"different frame counts: {pred.path} has {len(pred.keypoints)}, "
                         f"{ref.path} {len(ref.keypoints)}")
    if not np.array_equal(pred.indices, ref.indices):
        # Rows are paired frame by frame, so both files must hold the same frame numbers.
        at = int(np.flatnonzero(pred.indices != ref.indices)[0])
        raise InputError(f"different frames: row {at} is frame {pred.indices[at]} in {pred.path} but frame "
                         f"{ref.indices[at]} in {ref.path}")
    if pred.joints != ref.joints:
        raise InputError(f"different skeletons: {pred.path} has {list(pred.joints)}, {ref.path} {list(ref.joints)}")


@dataclass(frozen=True)
class Comparison:
    """What :func:`compare` measures (None where there is nothing to measure).

    Attributes:
        joints: the judged joint names (J).
        reference_frames: frames where the reference has a person.
        found: share of those where the prediction draws >= 60 % of the judged joints.
        pck_drawn / pck_all: PCK@0.2 over the reference's judged joints, undrawn joints wrong / all.
        per_joint_drawn / per_joint_all: the same per joint name.
        joints_drawn: mean judged joints drawn per reference frame.
        legs_in_box: share of the reference's judged knees and ankles inside the prediction's box.
        first_found / first_reference: frame numbers (the files' ``index``); ``first`` is their difference.
        drawing_threshold: the score at or above which a joint counted as drawn.
        drawn_right: share of the drawn judged joints (where the reference gives them) within PCK@0.2.
        separating_threshold: the score that best separates right judged joints from wrong ones
            (Youden's J over every scored joint the prediction gives, drawn or not; None when no
            score separates them).
    """

    joints: tuple[str, ...]
    reference_frames: int
    found: float | None
    pck_drawn: float | None
    pck_all: float | None
    per_joint_drawn: dict[str, float | None]
    per_joint_all: dict[str, float | None]
    joints_drawn: float | None
    legs_in_box: float | None
    first_found: int | None
    first_reference: int | None
    drawn_right: float | None = None
    separating_threshold: float | None = None
    drawing_threshold: float | None = None

    @property
    def first(self) -> int | None:
        if self.first_found is None or self.first_reference is None:
            return None
        return self.first_found - self.first_reference

    def as_dict(self) -> dict[str, Any]:
        return {"joints": list(self.joints), "reference_frames": self.reference_frames, "found": self.found,
                "pck_drawn": self.pck_drawn, "pck_all": self.pck_all, "joints_drawn": self.joints_drawn,
                "legs_in_box": self.legs_in_box, "first": self.first, "first_found": self.first_found,
                "first_reference": self.first_reference, "drawn_right": self.drawn_right,
                "separating_threshold": self.separating_threshold, "drawing_threshold": self.drawing_threshold,
                "per_joint_drawn": self.per_joint_drawn,
                "per_joint_all": self.per_joint_all}


def select_joints(names: Sequence[str], wanted: Sequence[str] | None) -> list[int]:
    """Indices of the judged joints: ``wanted`` by name (case-insensitive), else :data:`DEFAULT_JOINTS`
    where the skeleton has them all, else every joint."""
    lower = {n.lower(): i for i, n in enumerate(names)}
    if wanted:
        unknown = [w for w in wanted if w.lower() not in lower]
        if unknown:
            raise InputError(f"unknown joint(s) {', '.join(map(repr, unknown))}; the skeleton has "
                             f"{', '.join(names)}")
        return sorted({lower[w.lower()] for w in wanted})
    if all(d.lower() in lower for d in DEFAULT_JOINTS):
        return sorted(lower[d.lower()] for d in DEFAULT_JOINTS)
    return list(range(len(names)))


def torso_sizes(ref: KeypointFile) -> np.ndarray:
    """(F,) torso size per frame from the reference: ‖L shoulder − R hip‖, else 1.6 × shoulder width."""
    idx = {n: i for i, n in enumerate(ref.joints)}
    out = np.full(len(ref.keypoints), np.nan)
    xy = ref.keypoints[..., :2]
    if "L shoulder" in idx and "R hip" in idx:
        out = np.linalg.norm(xy[:, idx["L shoulder"]] - xy[:, idx["R hip"]], axis=1)
    if "L shoulder" in idx and "R shoulder" in idx:
        width = 1.6 * np.linalg.norm(xy[:, idx["L shoulder"]] - xy[:, idx["R shoulder"]], axis=1)
        out = np.where(np.isfinite(out), out, width)
    return out


def _share(hits: np.ndarray, mask: np.ndarray) -> float | None:
    n = int(mask.sum())
    return None if n == 0 else float((hits & mask).sum() / n)


def compare(pred: KeypointFile, ref: KeypointFile, joints: Sequence[str] | None = None,
            threshold: float | None = None) -> Comparison:
    """Score ``pred`` against ``ref`` (same source, frames and skeleton; see :func:`check_comparable`).

    ``threshold``: the drawing threshold, default the prediction's ``angle_min_confidence``.
    """
    check_comparable(pred, ref)
    sel = select_joints(ref.joints, joints)
    names = tuple(ref.joints[i] for i in sel)
    t = pred.threshold if threshold is None else threshold
    if t is None:
        raise InputError(f"{pred.path} has no angle_min_confidence; give the drawing threshold")
    r = ref.keypoints[:, sel]  # (F, J, 3)
    p = pred.keypoints[:, sel]
    person = np.isfinite(ref.keypoints[..., :2]).all(axis=-1).any(axis=-1)  # (F,): any joint given
    defined = np.isfinite(r[..., :2]).all(axis=-1) & person[:, None]  # (F, J)
    with np.errstate(invalid="ignore"):
        drawn = np.nan_to_num(p[..., 2], nan=-np.inf) >= t  # (F, J)
        dist = np.linalg.norm(p[..., :2] - r[..., :2], axis=-1)
        torso = torso_sizes(ref)
        near = dist <= PCK_FRACTION * torso[:, None]  # NaN compares False: no prediction, wrong
    scored = defined & np.isfinite(torso)[:, None]
    found_frames = person & (drawn.sum(axis=1) >= math.ceil(FOUND_FRACTION * len(sel)))
    legs = np.array([("knee" in n.lower() or "ankle" in n.lower()) for n in names])
    x0, y0, x1, y1 = (pred.boxes[:, i : i + 1] for i in range(4))
    with np.errstate(invalid="ignore"):
        inside = (r[..., 0] >= x0) & (r[..., 0] <= x1) & (r[..., 1] >= y0) & (r[..., 1] <= y1)
    n_ref = int(person.sum())
    first_found = int(ref.indices[np.argmax(found_frames)]) if found_frames.any() else None
    first_ref = int(ref.indices[np.argmax(person)]) if person.any() else None
    scores = p[..., 2]
    rated = scored & np.isfinite(scores)  # a joint the prediction has no score for separates nothing
    return Comparison(
        joints=names, reference_frames=n_ref,
        found=None if n_ref == 0 else float(found_frames.sum() / n_ref),
        pck_drawn=_share(near & drawn, scored), pck_all=_share(near, scored),
        per_joint_drawn={n: _share((near & drawn)[:, j], scored[:, j]) for j, n in enumerate(names)},
        per_joint_all={n: _share(near[:, j], scored[:, j]) for j, n in enumerate(names)},
        joints_drawn=None if n_ref == 0 else float(drawn[person].sum() / n_ref),
        legs_in_box=_share(inside[:, legs], defined[:, legs]) if legs.any() else None,
        first_found=first_found, first_reference=first_ref, drawn_right=_share(near, scored & drawn),
        separating_threshold=youden_threshold(scores[rated & near], scores[rated & ~near]),
        drawing_threshold=float(t))


def format_report(c: Comparison) -> str:
    """A human-readable summary table of a :class:`Comparison`."""

    def f(v: float | None) -> str:
        return "–" if v is None else f"{v:.3f}"

    def t2(v: float | None) -> str:  # a score threshold
        return "–" if v is None else f"{v:.2f}"

    first = "–" if c.first is None else f"{c.first:+d} (frame {c.first_found} vs {c.first_reference})"
    lines = [f"reference frames with a person: {c.reference_frames}",
             f"found        {f(c.found)}", f"PCK drawn    {f(c.pck_drawn)}", f"PCK all      {f(c.pck_all)}",
             f"joints drawn {f(c.joints_drawn)} of {len(c.joints)} per frame",
             f"legs in box  {f(c.legs_in_box)}", f"first        {first}",
             f"drawn right  {f(c.drawn_right)} of the joints drawn",
             f"best split   {t2(c.separating_threshold)} separates right joints from wrong (Youden's J; "
             f"drawn at {t2(c.drawing_threshold)})", "",
             f"{'joint':<12} {'PCK drawn':>9} {'PCK all':>8}"]
    lines += [f"{n:<12} {f(c.per_joint_drawn[n]):>9} {f(c.per_joint_all[n]):>8}" for n in c.joints]
    return "\n".join(lines)
