"""The annotation log streams frames through a journal: same files as before, memory flat."""

from __future__ import annotations

import csv
import json
import tracemalloc
from pathlib import Path

import numpy as np

from engine.annotations import AnnotationLog
from engine.crop import CropBox
from engine.pipeline import PoseResult
from engine.skeleton import get_skeleton

SKELETON = get_skeleton("lsp14")


def result(i: int, rng: np.random.Generator) -> PoseResult:
    keypoints = np.column_stack([rng.uniform(0, 640, (14, 2)), rng.uniform(0, 1, 14)]).astype(np.float32)
    keypoints[3, 2] = 0.0  # a joint below any threshold: its angles are null
    return PoseResult(i, i / 30, keypoints, CropBox(320.0, 180.0, 200.0), "tracking", True, {})


def new_log(folder: Path, **kw) -> AnnotationLog:
    return AnnotationLog(folder / "a.json", folder / "a.csv", source={"path": "a.mp4", "kind": "video",
                         "frame_count": 5}, model={"name": "m"}, skeleton=SKELETON, angle_min_confidence=0.2, **kw)


def test_files_are_those_of_a_whole_document(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    log = new_log(tmp_path)
    entries = [log.add(result(i, rng), f"f{i}.jpg") for i in range(5)]
    assert any(v is None for v in entries[0]["angles"].values())
    log.write(complete=True)
    text = (tmp_path / "a.json").read_text()
    doc = json.loads(text)
    assert text == json.dumps(doc, indent=1) + "\n"  # the layout of json.dumps(document, indent=1)
    assert doc["frames"] == entries
    assert doc["source"] == {"path": "a.mp4", "kind": "video", "frame_count": 5, "frames_decoded": 5,
                             "truncated": False}
    assert list(doc)[-1] == "frames" and doc["complete"] is True
    with open(tmp_path / "a.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["file"] for r in rows] == [f"f{i}.jpg" for i in range(5)]
    assert float(rows[2]["l_knee_score"]) == entries[2]["keypoints"][4][2]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv", "a.json"]  # the journal is gone


def test_no_frames_and_truncation(tmp_path: Path) -> None:
    log = new_log(tmp_path)
    log.write(complete=False)
    doc = json.loads((tmp_path / "a.json").read_text())
    assert doc["frames"] == [] and doc["complete"] is False
    rng = np.random.default_rng(1)
    log = new_log(tmp_path)
    for i in range(4):
        log.add(result(i, rng))
    log.truncate(2)  # a recording whose video holds two
    log.write(complete=True, truncated=True)
    doc = json.loads((tmp_path / "a.json").read_text())
    assert [f["index"] for f in doc["frames"]] == [0, 1] and doc["source"]["truncated"] is True
    assert len((tmp_path / "a.csv").read_text().splitlines()) == 3


def test_memory_does_not_grow_with_the_frames(tmp_path: Path) -> None:
    # Measured, not timed: Python memory still held after 2,000 more frames. Keeping every record
    # (the previous design) held about 3.9 KB a frame, 7.8 MB here.
    rng = np.random.default_rng(2)
    results = [result(i, rng) for i in range(50)]  # made up front: their memory is not the log's
    log = new_log(tmp_path)
    tracemalloc.start()
    try:
        for i in range(200):
            log.add(results[i % 50])
        before = tracemalloc.get_traced_memory()[0]
        for i in range(2000):
            log.add(results[i % 50])
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 64 * 1024, grown
    log.write(complete=True)
    assert json.loads((tmp_path / "a.json").read_text())["source"]["frames_decoded"] == 2200
