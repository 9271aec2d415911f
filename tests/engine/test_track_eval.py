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
    assert annotate([str(clip), "--out", str(out), "--quiet", "--batch", "1"]) == 0  # frame by frame, as runs go
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
    doc_ref = json.loads(ref.read_text())
    threshold = doc_ref["angle_min_confidence"]  # the model's calibrated threshold
    judged = [1, 0, 4, 5, 6, 7, 8, 9, 10, 11]  # shoulders, elbows, wrists, knees, ankles (LSP order)
    drawn = [sum(f["keypoints"][j][2] >= threshold for j in judged) >= 6 for f in doc_ref["frames"]]
    assert same["found"] == pytest.approx(sum(drawn) / 70)
    # A later start is judged on its own frames only.
    late = runs[(40, True)]
    assert late["reference_frames"] == 30 and late["first_reference"] == 40
    assert runs[(0, False)]["pck_all"] < 1.0  # no flip test: another pose
    summary = doc["summary"]["pck_all"]
    values = [r["pck_all"] for r in doc["runs"]]
    assert summary["runs"] == 4 and summary["max"] == pytest.approx(max(values))
    assert summary["mean"] == pytest.approx(sum(values) / 4)


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("hgpose track-eval: error: ") and "\n" not in err, err
    return err


def test_bad_inputs_are_refused_in_one_line_before_the_model_loads(clip_and_reference, clip_excerpt, tmp_path,
                                                                    capsys) -> None:
    clip, ref = clip_and_reference
    # No model is opened for any of these: a model that does not exist is never reached.
    no_model = ["--quiet", "--model", str(tmp_path / "absent.onnx")]
    other = clip_excerpt(5, "other.mp4")
    assert track_eval([str(other), str(ref), *no_model]) == InputError.exit_code
    err = one_line_error(capsys)
    assert "different sources" in err and "'other.mp4'" in err and "'walker70.mp4'" in err
    assert track_eval([str(tmp_path / "walker70.mp4"), str(ref), *no_model]) == InputError.exit_code
    assert one_line_error(capsys) == f"hgpose track-eval: error: video {tmp_path / 'walker70.mp4'} does not exist"
    assert track_eval([str(tmp_path), str(ref), *no_model]) == InputError.exit_code
    assert one_line_error(capsys) == f"hgpose track-eval: error: {tmp_path} is a folder, not a video file"
    assert track_eval([str(clip), str(ref), "--starts", "0,70", *no_model]) == ConfigError.exit_code
    assert "start frame(s) 70 past the reference's last frame (69)" in one_line_error(capsys)
    # A reference of more frames than the video holds (the clip cut short since).
    doc = json.loads(ref.read_text())
    longer = tmp_path / "longer.json"
    longer.write_text(json.dumps({**doc, "frames": doc["frames"] + [{**doc["frames"][-1], "index": 70}]}))
    assert track_eval([str(clip), str(longer), *no_model]) == InputError.exit_code
    assert "describes frames up to 70" in one_line_error(capsys)
    assert track_eval([str(clip), str(ref), "--joints", "R knee,nose", *no_model]) == InputError.exit_code
    assert "unknown joint(s) 'nose'" in one_line_error(capsys)
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({**doc, "frames": []}))
    assert track_eval([str(clip), str(empty), *no_model]) == InputError.exit_code
    assert "has no frames" in one_line_error(capsys)


def test_a_reference_in_another_skeleton_is_refused(clip_and_reference, tmp_path, capsys) -> None:
    clip, ref = clip_and_reference
    doc = json.loads(ref.read_text())
    doc["skeleton"]["joints"] = [f"joint {i}" for i in range(14)]
    renamed = tmp_path / "renamed.json"
    renamed.write_text(json.dumps(doc))
    assert track_eval([str(clip), str(renamed), "--quiet"]) == InputError.exit_code
    assert "the model's skeleton lsp14 has R ankle" in one_line_error(capsys)


def test_joints_and_threshold_are_those_of_compare(clip_and_reference, capsys) -> None:
    clip, ref = clip_and_reference
    args = [str(clip), str(ref), "--starts", "0", "--flip", "on", "--json", "--quiet"]
    assert track_eval([*args, "--joints", "R knee,L knee", "--threshold", "0.99"]) == 0
    run = json.loads(capsys.readouterr().out)["runs"][0]
    assert run["joints"] == ["R knee", "L knee"] and run["pck_all"] == pytest.approx(1.0)
    assert run["found"] == 0.0  # nothing is drawn at 0.99


def test_runs_can_read_the_flip_test_only_where_unsure(clip_and_reference, capsys) -> None:
    clip, ref = clip_and_reference
    assert track_eval([str(clip), str(ref), "--starts", "0", "--flip", "all", "--json", "--quiet"]) == 0
    runs = {r["flip_mode"]: r for r in json.loads(capsys.readouterr().out)["runs"]}
    assert set(runs) == {"on", "unsure", "off"}
    assert [runs[m]["flip"] for m in ("on", "unsure", "off")] == [True, False, False]
    # The walker is not in the first 38 frames: every read there is unsure, so the unsure run
    # draws what the flip test does on them (annotate's reference, itself the flip test's).
    assert runs["unsure"]["pck_all"] != runs["off"]["pck_all"]
    assert track_eval([str(clip), str(ref), "--starts", "0", "--flip", "unsure", "--quiet"]) == 0
    assert "    0  unsure" in capsys.readouterr().out
    assert track_eval([str(clip), str(ref), "--starts", "0,40", "--flip", "all", "--json", "--quiet"]) == 0
    doc = json.loads(capsys.readouterr().out)
    for mode, summary in doc["by_flip"].items():  # each mode's own mean, besides the pooled one
        values = [r["pck_all"] for r in doc["runs"] if r["flip_mode"] == mode]
        assert summary["pck_all"]["runs"] == 2 and summary["pck_all"]["mean"] == pytest.approx(sum(values) / 2)
    assert set(doc["by_flip"]) == {"on", "unsure", "off"}


def test_runs_say_whether_they_had_the_zoom_test(clip_and_reference, capsys) -> None:
    clip, ref = clip_and_reference
    docs = {}
    for flag in ("", "--no-zoom-test"):
        assert track_eval([str(clip), str(ref), "--starts", "0", "--flip", "on", "--json", "--quiet",
                           *([flag] if flag else [])]) == 0
        docs[flag] = json.loads(capsys.readouterr().out)
    assert docs[""]["zoom_test"] is True and docs["--no-zoom-test"]["zoom_test"] is False
    # The same crops, so the same joints found; positions differ.
    (on,), (off,) = docs[""]["runs"], docs["--no-zoom-test"]["runs"]
    assert on["found"] == off["found"] and on["legs_in_box"] == off["legs_in_box"]
    assert on["pck_all"] != off["pck_all"]
    assert track_eval([str(clip), str(ref), "--starts", "0", "--flip", "on", "--quiet"]) == 0
    assert "1 runs, zoom test" in capsys.readouterr().out
