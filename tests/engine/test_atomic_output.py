"""Atomic outputs: a failure while writing or publishing is an OutputError, and nothing is left behind."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.atomic import atomic_path, atomic_write_text
from engine.errors import OutputError
from engine.video_writer import AtomicVideoWriter


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_replaces_the_target_whole(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    target.write_text("old")
    atomic_write_text(target, "new")
    assert target.read_text() == "new" and leftovers(tmp_path) == []


def test_a_target_that_is_a_directory_is_an_output_error(tmp_path: Path) -> None:
    (tmp_path / "out.json").mkdir()
    with pytest.raises(OutputError, match=r"cannot write .*out\.json"):
        atomic_write_text(tmp_path / "out.json", "{}")
    assert leftovers(tmp_path) == []


def test_an_os_error_while_writing_is_an_output_error(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    target.write_text("previous")
    with pytest.raises(OutputError, match="No space left"), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise OSError(28, "No space left on device")
    assert target.read_text() == "previous" and leftovers(tmp_path) == []


def test_other_errors_pass_through_unchanged(tmp_path: Path) -> None:
    with pytest.raises(KeyboardInterrupt), atomic_path(tmp_path / "out.csv") as tmp:
        tmp.write_text("half")
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_video_that_cannot_be_published_is_an_output_error(tmp_path: Path) -> None:
    target = tmp_path / "out.mp4"
    writer = AtomicVideoWriter(target, 30.0, (64, 48))
    writer.write(np.zeros((48, 64, 3), np.uint8))
    target.mkdir()  # something took the name meanwhile
    with pytest.raises(OutputError, match=r"cannot write .*out\.mp4"):
        writer.close()
    assert leftovers(tmp_path) == []


def test_frames_of_another_size_are_letterboxed_not_stretched() -> None:
    from engine.video_writer import letterbox

    tall = np.full((100, 50, 3), 200, np.uint8)  # 1:2, into a 4:3 frame
    out = letterbox(tall, (80, 60))
    assert out.shape == (60, 80, 3)
    cols = np.flatnonzero(out[30, :, 0] > 100)
    assert (cols.min(), cols.max()) == (25, 54)  # 30 px wide (60 * 50/100), centred
    assert (out[:, :25] == 0).all() and (out[:, 55:] == 0).all()


def test_files_published_together_are_put_back_when_one_cannot_be(tmp_path: Path) -> None:
    from engine.atomic import atomic_paths

    old_json, new_csv, held = tmp_path / "a.json", tmp_path / "a.csv", tmp_path / "b.csv"
    old_json.write_text("old json")
    held.mkdir()  # a folder holds the second file's name: its move fails after the first's

    with pytest.raises(OutputError, match=r"b\.csv"), atomic_paths(old_json, new_csv, held) as tmps:
        for tmp in tmps:
            tmp.write_text("new")

    assert old_json.read_text() == "old json"  # replaced, then put back
    assert not new_csv.exists()  # new, then removed again
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "b.csv"]  # no temporaries, no links


def test_files_published_together_all_replace_their_targets(tmp_path: Path) -> None:
    from engine.atomic import atomic_paths

    a, b = tmp_path / "a.json", tmp_path / "a.csv"
    a.write_text("old")
    with atomic_paths(a, b) as (ta, tb):
        ta.write_text("new json")
        tb.write_text("new csv")

    assert (a.read_text(), b.read_text()) == ("new json", "new csv")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv", "a.json"]
