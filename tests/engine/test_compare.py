"""``hgpose compare``: metrics on tiny files with known answers, nulls, and mismatched inputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from closed_pipe import run_into_closed_pipe

from engine.commands.compare import main
from engine.comparison import compare, load_keypoints
from engine.errors import InputError
from engine.skeleton import get_skeleton

JOINTS = list(get_skeleton("lsp14").joints)


def standing(x: float = 100.0, score: float = 1.0) -> list[list[float] | None]:
    """A person standing at ``x``: shoulders at y=100, hips 200, knees 300, ankles 400; torso 100 * sqrt(2)
    (L shoulder at x + 50, R hip at x - 50)."""
    rows = {"R ankle": (-50, 400), "R knee": (-50, 300), "R hip": (-50, 200), "L hip": (50, 200),
            "L knee": (50, 300), "L ankle": (50, 400), "R wrist": (-60, 200), "R elbow": (-55, 150),
            "R shoulder": (-50, 100), "L shoulder": (50, 100), "L elbow": (55, 150), "L wrist": (60, 200),
            "neck": (0, 90), "head top": (0, 20)}
    return [[x + rows[j][0], rows[j][1], score] for j in JOINTS]


def write(path: Path, frames: list, source: str = "clip.mp4", joints: list[str] | None = None,
          threshold: float | None = 0.5, last_index: int | None = None) -> Path:
    data = {"schema": "hgpose.annotations/1", "complete": True,
            "source": {"path": source, "kind": "video", "width": 640, "height": 480, "fps": 30.0},
            "skeleton": {"name": "lsp14", "joints": joints or JOINTS},
            "frames": [{"index": i, **f} for i, f in enumerate(frames)]}
    if last_index is not None:  # a file that skips frames: the same count, other frame numbers
        data["frames"][-1]["index"] = last_index
    if threshold is not None:
        data["angle_min_confidence"] = threshold
    path.write_text(json.dumps(data))
    return path


@pytest.fixture()
def files(tmp_path: Path) -> tuple[Path, Path]:
    ref_pose = standing()
    ref_pose[JOINTS.index("neck")] = None  # a reference may leave joints undefined
    ref_pose[JOINTS.index("head top")] = None
    ref = [{"keypoints": None}, {"keypoints": ref_pose}, {"keypoints": ref_pose}, {"keypoints": ref_pose}]
    off = standing()
    off[JOINTS.index("R wrist")][0] += 40  # 40 px > 0.2 * 141 px: wrong
    weak = standing()
    for j in ("R knee", "L knee", "R ankle", "L ankle", "R elbow"):
        weak[JOINTS.index(j)][2] = 0.1  # right where they are, but not drawn
    pred = [{"box": [0, 0, 200, 200], "keypoints": standing()},  # a person where the reference has none
            {"box": [0, 0, 200, 200], "keypoints": weak},  # 5 of 10 drawn: not found
            {"box": [0, 0, 200, 500], "keypoints": off},
            {"box": [0, 0, 200, 350], "keypoints": standing()}]
    return write(tmp_path / "pred.json", pred), write(tmp_path / "ref.json", ref, threshold=None)


def test_known_answers(files: tuple[Path, Path]) -> None:
    c = compare(load_keypoints(files[0]), load_keypoints(files[1]))
    assert c.reference_frames == 3 and len(c.joints) == 10
    assert c.found == pytest.approx(2 / 3)
    assert c.first_found == 2 and c.first_reference == 1 and c.first == 1
    assert c.pck_all == pytest.approx(29 / 30)  # only frame 2's R wrist is off
    assert c.pck_drawn == pytest.approx((5 + 9 + 10) / 30)  # frame 1 draws 5 joints
    assert c.joints_drawn == pytest.approx((5 + 10 + 10) / 3)
    assert c.per_joint_all["R wrist"] == pytest.approx(2 / 3) and c.per_joint_drawn["R knee"] == pytest.approx(2 / 3)
    # Knees at y=300, ankles at 400: frame 1's box holds none, frame 2's all four, frame 3's the knees.
    assert c.legs_in_box == pytest.approx((0 + 4 + 2) / 12)
    assert c.drawn_right == pytest.approx(24 / 25)  # 25 joints drawn, frame 2's R wrist wrong
    assert c.drawing_threshold == 0.5


def test_the_separating_threshold_lies_between_right_and_wrong_scores(tmp_path: Path) -> None:
    # Right joints scored 0.6-0.9, wrong ones (60 px off) 0.1-0.3: Youden's J puts the threshold
    # just above the wrong ones, whatever the file's drawing threshold.
    rng = np.random.default_rng(0)
    ref, pred = [], []
    for _ in range(20):
        pose = standing()
        wrong = rng.random(len(JOINTS)) < 0.3
        for j, row in enumerate(pose):
            row[0] += 60 if wrong[j] else 0
            row[2] = rng.uniform(0.1, 0.3) if wrong[j] else rng.uniform(0.6, 0.9)
        pred.append({"box": [0, 0, 200, 500], "keypoints": pose})
        ref.append({"keypoints": standing()})
    highest_wrong = max(row[2] for f in pred for row, r in zip(f["keypoints"], standing(), strict=True)
                        if row[0] != r[0])
    c = compare(load_keypoints(write(tmp_path / "p.json", pred, threshold=0.8)),
                load_keypoints(write(tmp_path / "r.json", ref, threshold=None)))
    # The first candidate (a hundredth) above every wrong score keeps every right joint.
    assert c.separating_threshold == pytest.approx(np.ceil(highest_wrong * 100 + 1e-9) / 100)
    assert c.drawn_right == 1.0  # drawn at 0.8: only right joints
    # Frames where the prediction has nobody (an app recording, hand labels) hold no scores: they
    # neither count as wrong joints nor move the threshold.
    with_gaps = pred + [{"box": None, "keypoints": None}] * 40
    c2 = compare(load_keypoints(write(tmp_path / "p2.json", with_gaps, threshold=0.8)),
                 load_keypoints(write(tmp_path / "r2.json", ref + [{"keypoints": standing()}] * 40, threshold=None)))
    assert c2.separating_threshold == c.separating_threshold and c2.drawn_right == 1.0
    assert c2.found == pytest.approx(c.found * 20 / 60)
    assert compare(load_keypoints(tmp_path / "r.json"), load_keypoints(tmp_path / "r.json"),
                   threshold=0.5).separating_threshold is None  # every joint right: nothing to separate


def test_joints_option_and_cli(files: tuple[Path, Path], capsys) -> None:
    c = compare(load_keypoints(files[0]), load_keypoints(files[1]), joints=["r wrist", "L WRIST"])
    assert c.joints == ("R wrist", "L wrist") and c.pck_all == pytest.approx(5 / 6) and c.legs_in_box is None
    assert main([str(files[0]), str(files[1]), "--json", "--joints", "R wrist,L wrist"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["pck_all"] == pytest.approx(5 / 6) and out["first"] == 0  # both wrists drawn from frame 1
    assert main([str(files[0]), str(files[1])]) == 0
    report = capsys.readouterr().out
    assert "drawn right  0.960 of the joints drawn" in report  # 24 of the 25 drawn joints
    assert "best split   –" in report and "drawn at 0.50" in report  # the one wrong joint scores 1.0
    assert "PCK drawn    0.800" in report
    assert main([str(files[0]), str(files[1]), "--joints", "nose"]) == 2
    assert "unknown joint(s) 'nose'" in capsys.readouterr().err


def test_mismatched_inputs_are_one_line_errors(files: tuple[Path, Path], tmp_path: Path, capsys) -> None:
    pred, ref = files
    frames = [{"keypoints": standing()}] * 4
    cases = {
        "different sources": write(tmp_path / "a.json", frames, source="other.mp4"),
        "different frame counts": write(tmp_path / "b.json", frames[:3]),
        "different skeletons": write(tmp_path / "c.json", [{"keypoints": standing()[:13]}] * 4,
                                     joints=JOINTS[:13]),
        "different frames: row 3 is frame 7": write(tmp_path / "d.json", frames, last_index=7),
    }
    for message, path in cases.items():
        with pytest.raises(InputError, match=message):
            compare(load_keypoints(path), load_keypoints(ref))
        assert main([str(path), str(ref)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("hgpose compare: error: ") and message in err and err.count("\n") == 1
    (tmp_path / "bad.json").write_text("{not json")
    assert main([str(tmp_path / "bad.json"), str(ref)]) == 2
    assert main([str(tmp_path / "missing.json"), str(ref)]) == 2
    assert main([str(ref), str(pred)]) == 2  # the reference has no drawing threshold to judge it with
    assert "angle_min_confidence" in capsys.readouterr().err


def test_a_reader_that_goes_away_ends_the_command_quietly(files: tuple[Path, Path]) -> None:
    # `hgpose compare A B | head -1`: the pipe's reading end is closed before the command writes.
    for buffered in (True, False):  # the report is smaller than stdout's buffer: it fails at the flush
        proc = run_into_closed_pipe(["compare", str(files[0]), str(files[1])], unbuffered=not buffered)
        assert proc.returncode == 141, (buffered, proc.stderr)
        assert proc.stderr == ""  # no traceback, no message


def test_a_broken_pipe_that_is_not_stdout_is_an_error(capsys) -> None:
    from engine.cli_support import stdout_reader_left

    print("working")
    with pytest.raises(BrokenPipeError):
        try:
            raise BrokenPipeError(32, "a worker's pipe")
        except BrokenPipeError:
            stdout_reader_left()  # stdout (captured here) has no closed reader: not hidden
    assert capsys.readouterr().out == "working\n"
