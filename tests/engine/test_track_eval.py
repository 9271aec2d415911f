"""`hgpose track-eval`: several runs of a clip scored against a reference."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.commands.annotate import main as annotate
from engine.commands.track_eval import main as track_eval
from engine.errors import ConfigError, InputError


@pytest.fixture(scope="module")
def clip_and_reference(clip_excerpt, tmp_path_factory) -> tuple[Path, Path]:
    """70 frames of the bundled clip (the walker enters at about frame 38) and, as the reference,
    what `annotate` (flip test on) makes of them."""
    clip = clip_excerpt(70, "walker70.mp4")
    out = tmp_path_factory.mktemp("ref")
    assert annotate([str(clip), "--out", str(out), "--quiet"]) == 0
    return clip, out / "walker70.json"


def test_runs_are_scored_against_the_reference(clip_and_reference, capsys) -> None:
    clip, ref = clip_and_reference
    assert track_eval([str(clip), str(ref), "--starts", "0,40", "--json", "--quiet"]) == 0
    doc = json.loads(capsys.readouterr().out)
    runs = {(r["start"], r["flip"]): r for r in doc["runs"]}
    assert set(runs) == {(0, True), (0, False), (40, True), (40, False)}
    # The run with annotate's own settings gives annotate's keypoints: all of them right.
    same = runs[(0, True)]
    assert same["pck_all"] == pytest.approx(1.0) and same["reference_frames"] == 70
    frames = json.loads(ref.read_text())["frames"]
    judged = [1, 0, 4, 5, 6, 7, 8, 9, 10, 11]  # shoulders, elbows, wrists, knees, ankles (LSP order)
    drawn = [sum(f["keypoints"][j][2] >= 0.42 for j in judged) >= 6 for f in frames]
    assert same["found"] == pytest.approx(sum(drawn) / 70)
    # A later start is judged on its own frames only.
    late = runs[(40, True)]
    assert late["reference_frames"] == 30 and late["first_reference"] == 40
    assert runs[(0, False)]["pck_all"] < 1.0  # no flip test: another pose
    summary = doc["summary"]["pck_all"]
    values = [r["pck_all"] for r in doc["runs"]]
    assert summary["runs"] == 4 and summary["max"] == pytest.approx(max(values))
    assert summary["mean"] == pytest.approx(sum(values) / 4)


def test_a_reference_of_another_clip_or_a_start_past_the_end_is_refused(clip_and_reference, clip_excerpt,
                                                                       capsys) -> None:
    clip, ref = clip_and_reference
    other = clip_excerpt(5, "other.mp4")
    assert track_eval([str(other), str(ref), "--quiet"]) == InputError.exit_code
    err = capsys.readouterr().err.strip()
    assert "is of 'walker70.mp4', not of 'other.mp4'" in err and "\n" not in err
    assert track_eval([str(clip), str(ref), "--starts", "0,70", "--quiet"]) == ConfigError.exit_code
    assert "start frame(s) 70 outside the clip (frames 0-69)" in capsys.readouterr().err
