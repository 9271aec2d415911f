"""The keypoint file formats shared by ``hgpose annotate`` and the app's recordings.

JSON (``<stem>.json``, schema ``hgpose.annotations/1``)::

    {
      "schema": "hgpose.annotations/1",
      "complete": true,                 # false when the run was interrupted (frames so far)
      "created": "2026-11-21T12:00:00Z",
      "source": {"path", "kind": "video|images|image|camera", "width", "height", "fps",
                 "frame_count": <reported by the container>, "frames_decoded": <frames below>},
      "model": {"name", "file", "backend", "device", "input_size", "precision", "metrics",
                "flip_test"},                # whether each pose averaged the mirrored crop's
      "skeleton": {"name", "joints": [...], "limbs": [[a, b], ...], "angles": [...]},
      "angle_min_confidence": 0.32,     # an angle is null when one of its joints scores below this
      "skipped": [{"file", "reason"}],  # image folders: files that were not images
      "frames": [{"index", "timestamp", "file", "box": [x0, y0, x1, y1], "state", "confident",
                  "keypoints": [[x, y, score], ...K], "angles": {"R knee": deg, ...}}]
    }

Coordinates are source pixels (x right, y down, pixel centres on integers); timestamps are
seconds from the start; scores are in [0, 1]; angles are degrees, null where undefined (a joint
below ``angle_min_confidence``, or two coinciding joints).

CSV (``<stem>.csv``): one row per frame with ``frame, timestamp, file, box_x0, box_y0, box_x1,
box_y1, state, confident``, then ``<joint>_x, <joint>_y, <joint>_score`` per joint and
``angle_<name>`` per angle (joint names lower-case with underscores).
"""

from __future__ import annotations

import csv
import io
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.angles import joint_angles
from engine.atomic import atomic_write_text
from engine.pipeline import PoseResult
from engine.skeleton import Skeleton

SCHEMA = "hgpose.annotations/1"


def _column(name: str) -> str:
    return name.lower().replace(" ", "_")


def _num(value: float, digits: int = 2) -> float | None:
    return None if not math.isfinite(value) else round(float(value), digits)


@dataclass
class AnnotationLog:
    """Accumulates per-frame poses and writes them as JSON and CSV, atomically.

    Attributes:
        source: the ``source`` header (see module docstring).
        model: the ``model`` header.
        skeleton: the joint set of the keypoints.
        angle_min_confidence: angles with a joint scoring below this are null, as on screen, so a
            recording never holds an angle the app would not show.
    """

    source: dict[str, Any]
    model: dict[str, Any]
    skeleton: Skeleton
    angle_min_confidence: float = 0.0
    skipped: list[dict[str, str]] = field(default_factory=list)
    frames: list[dict[str, Any]] = field(default_factory=list)

    def add(self, result: PoseResult, file: str = "") -> dict[str, Any]:
        angles = joint_angles(result.keypoints, self.skeleton, self.angle_min_confidence)
        entry = {
            "index": result.frame_index,
            "timestamp": round(result.timestamp, 6),
            "file": file,
            "box": [round(v, 2) for v in result.box.xyxy],
            "state": result.state,
            "confident": bool(result.confident),
            "keypoints": [[round(float(x), 2), round(float(y), 2), round(float(s), 4)]
                          for x, y, s in result.keypoints],
            "angles": {k: _num(v, 1) for k, v in angles.items()},
        }
        self.frames.append(entry)
        return entry

    def truncate(self, count: int) -> None:
        """Keep the first ``count`` frames (to match a video that holds fewer)."""
        del self.frames[count:]

    def document(self, complete: bool) -> dict[str, Any]:
        s = self.skeleton
        return {
            "schema": SCHEMA,
            "complete": complete,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "source": {**self.source, "frames_decoded": len(self.frames)},
            "model": self.model,
            "skeleton": {"name": s.name, "joints": list(s.joints), "limbs": [list(x) for x in s.limbs],
                         "angles": [a[0] for a in s.angles]},
            "angle_min_confidence": self.angle_min_confidence,
            "skipped": self.skipped,
            "frames": self.frames,
        }

    def csv_text(self) -> str:
        s = self.skeleton
        header = ["frame", "timestamp", "file", "box_x0", "box_y0", "box_x1", "box_y1", "state", "confident"]
        for j in s.joints:
            c = _column(j)
            header += [f"{c}_x", f"{c}_y", f"{c}_score"]
        header += [f"angle_{_column(a[0])}" for a in s.angles]
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(header)
        for f in self.frames:
            row = [f["index"], f["timestamp"], f["file"], *f["box"], f["state"], int(f["confident"])]
            for kp in f["keypoints"]:
                row += kp
            row += ["" if f["angles"][a[0]] is None else f["angles"][a[0]] for a in s.angles]
            w.writerow(row)
        return buf.getvalue()

    def write(self, json_path: Path, csv_path: Path, complete: bool) -> None:
        """Write both files atomically (each is either the old or the new complete file)."""
        atomic_write_text(json_path, json.dumps(self.document(complete), indent=1) + "\n")
        atomic_write_text(csv_path, self.csv_text())
