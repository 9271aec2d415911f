"""The keypoint file formats shared by ``hgpose annotate`` and the app's recordings.

JSON (``<stem>.json``, schema ``hgpose.annotations/1``)::

    {
      "schema": "hgpose.annotations/1",
      "complete": true,                 # false when the run was interrupted (frames so far)
      "created": "2026-11-21T12:00:00Z",
      "source": {"path", "kind": "video|images|image|camera", "width", "height", "fps",
                 "frame_count": <reported by the container>, "frames_decoded": <frames below>,
                 "truncated": <true when a complete run of a video decoded fewer frames than
                               its container reports: a cut or damaged file>},
      "model": {"name", "file", "backend", "device", "input_size", "precision", "metrics",
                "flip_test",                 # whether each pose averaged the mirrored crop's
                "flip_mode",                 # "on", "unsure" (only poses read unsure) or "off"
                "zoom_test"},                # whether positions averaged a zoomed-in crop's read
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

Memory stays flat however long the source: each frame's record goes to a hidden journal file
beside the outputs (one compact JSON line) as it is made, and :meth:`AnnotationLog.write`
assembles the final JSON and CSV from it, streaming, into temporary files that replace the
previous outputs together.
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from engine.angles import joint_angles
from engine.atomic import TempFile, atomic_paths
from engine.errors import OutputError
from engine.pipeline import PoseResult
from engine.skeleton import Skeleton

SCHEMA = "hgpose.annotations/1"
JOURNAL_SUFFIX = ".frames.jsonl"
# The final JSON (indented) and the CSV together take about this many times the journal's bytes
# (measured: 2.5x on the bundled clip, 2.55x on a synthetic one); finishing must find that much free.
FINISH_BYTES_PER_JOURNAL_BYTE = 3


def _column(name: str) -> str:
    return name.lower().replace(" ", "_")


def _num(value: float, digits: int = 2) -> float | None:
    return None if not math.isfinite(value) else round(float(value), digits)


# Where an interrupted run's outputs go when the usual names hold a complete earlier run.
PARTIAL_INFIX = ".partial"
_HEAD_BYTES = 256  # the schema and "complete" are the document's first two keys


def holds_complete_run(path: Path) -> bool:
    """Whether ``path`` is an annotation JSON of a complete run (``"complete": true``), read from
    its first bytes only (the file may be hundreds of megabytes)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            head = fh.read(_HEAD_BYTES)
    except OSError:
        return False
    return f'"schema": "{SCHEMA}"' in head and '"complete": true' in head


class AnnotationLog:
    """Collects per-frame poses in a journal file and writes them as JSON and CSV, atomically.

    Args:
        json_path, csv_path: the outputs; the journal is a hidden temporary file beside them.
        source: the ``source`` header (see module docstring).
        model: the ``model`` header.
        skeleton: the joint set of the keypoints.
        angle_min_confidence: angles with a joint scoring below this are null, as on screen, so a
            recording never holds an angle the app would not show.
        skipped: image folders: the files that were not images.

    Raises ``OutputError`` when the journal cannot be created or written (a full disk).
    """

    def __init__(self, json_path: Path, csv_path: Path, source: dict[str, Any], model: dict[str, Any],
                 skeleton: Skeleton, angle_min_confidence: float = 0.0,
                 skipped: list[dict[str, str]] | None = None) -> None:
        self.json_path, self.csv_path = Path(json_path), Path(csv_path)
        self.source, self.model, self.skeleton = source, model, skeleton
        self.angle_min_confidence = angle_min_confidence
        self.skipped = skipped if skipped is not None else []  # a folder source fills it while it is read
        self.count = 0  # frames in the journal
        self._journal_bytes = 0  # counted, not asked: TextIOWrapper.tell() would flush every frame
        self._keep: int | None = None  # see truncate()
        self._temp: TempFile | None = TempFile(self.json_path, JOURNAL_SUFFIX)
        self._journal: IO[str] = open(self._temp.path, "w", encoding="utf-8")  # noqa: SIM115 - held for the run

    @property
    def frames(self) -> int:
        """Frames the written files will hold."""
        return self.count if self._keep is None else min(self._keep, self.count)

    def add(self, result: PoseResult, file: str = "") -> dict[str, Any]:
        """Record one frame's pose (keypoints in source pixels); returns its JSON entry."""
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
        line = json.dumps(entry, separators=(",", ":")) + "\n"  # ASCII (ensure_ascii): chars are bytes
        try:
            self._journal.write(line)
        except OSError as exc:
            raise OutputError(f"cannot write {self.json_path} ({exc.strerror or exc})") from None
        self.count += 1
        self._journal_bytes += len(line)
        return entry

    def retarget(self, json_path: Path, csv_path: Path) -> None:
        """Write to other names in the same folder (the journal stays where it is)."""
        self.json_path, self.csv_path = Path(json_path), Path(csv_path)

    def truncate(self, count: int) -> None:
        """Write only the first ``count`` frames (to match a video that holds fewer)."""
        self._keep = count

    def pending_bytes(self) -> int:
        """About how many bytes :meth:`write` will need on disk for the frames so far."""
        return FINISH_BYTES_PER_JOURNAL_BYTE * self._journal_bytes

    def _entries(self) -> Iterator[dict[str, Any]]:
        self._journal.flush()
        with open(self._journal.name, encoding="utf-8") as fh:
            for _, line in zip(range(self.frames), fh, strict=False):
                yield json.loads(line)

    def header(self, complete: bool, truncated: bool = False) -> dict[str, Any]:
        """The document without its frames."""
        s = self.skeleton
        return {
            "schema": SCHEMA,
            "complete": complete,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "source": {**self.source, "frames_decoded": self.frames, "truncated": truncated},
            "model": self.model,
            "skeleton": {"name": s.name, "joints": list(s.joints), "limbs": [list(x) for x in s.limbs],
                         "angles": [a[0] for a in s.angles]},
            "angle_min_confidence": self.angle_min_confidence,
            "skipped": self.skipped,
        }

    def _write_json(self, fh: IO[str], complete: bool, truncated: bool) -> None:
        # The same text json.dumps(document, indent=1) gives, one frame at a time: the header with an
        # empty frame list, then each frame indented to its depth (2) in place of the "[]".
        head = json.dumps({**self.header(complete, truncated), "frames": []}, indent=1)
        assert head.endswith("[]\n}")
        fh.write(head[:-4])
        first = True
        for entry in self._entries():
            fh.write("[\n  " if first else ",\n  ")
            fh.write(json.dumps(entry, indent=1).replace("\n", "\n  "))
            first = False
        fh.write("[]\n}\n" if first else "\n ]\n}\n")

    def _write_csv(self, fh: IO[str]) -> None:
        s = self.skeleton
        header = ["frame", "timestamp", "file", "box_x0", "box_y0", "box_x1", "box_y1", "state", "confident"]
        for j in s.joints:
            c = _column(j)
            header += [f"{c}_x", f"{c}_y", f"{c}_score"]
        header += [f"angle_{_column(a[0])}" for a in s.angles]
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(header)
        for f in self._entries():
            row = [f["index"], f["timestamp"], f["file"], *f["box"], f["state"], int(f["confident"])]
            for kp in f["keypoints"]:
                row += kp
            row += ["" if f["angles"][a[0]] is None else f["angles"][a[0]] for a in s.angles]
            w.writerow(row)

    def write(self, complete: bool, truncated: bool = False) -> None:
        """Write JSON and CSV and remove the journal. The two replace the previous pair together
        (:func:`engine.atomic.atomic_paths`): a failure while writing (a full disk) or while moving
        them into place (a target that is a folder) leaves the previous pair as it was.

        ``complete``: the whole source was read (not interrupted); ``truncated``: yet it held fewer
        frames than its container reports."""
        with atomic_paths(self.json_path, self.csv_path) as (tmp_json, tmp_csv):
            with open(tmp_json, "w", encoding="utf-8") as fh:
                self._write_json(fh, complete, truncated)
            with open(tmp_csv, "w", encoding="utf-8", newline="") as fh:
                self._write_csv(fh)
        self.discard()

    def discard(self) -> None:
        """Remove the journal without writing anything. Idempotent."""
        with contextlib.suppress(OSError):
            self._journal.close()
        if self._temp is not None:
            self._temp.remove()
            self._temp = None
