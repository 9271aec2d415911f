"""The flip test on every pose crop, only on unsure ones, or never: backend, pipeline and commands."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from engine.backends.registry import open_backend
from engine.errors import ConfigError
from engine.flip_modes import FLIP_MODES
from engine.pipeline import PipelineConfig, PosePipeline
from engine.sources import VideoSource


@pytest.fixture(scope="module")
def frames(bundled_clip: Path) -> dict[int, np.ndarray]:
    # Frame 10: the walker has not come in (nobody to see well); 150: in full view.
    return {f.index: f.image for f in VideoSource(bundled_clip) if f.index in (10, 150)}


def test_unsure_crops_get_the_flip_test_and_the_rest_one_read(bundled_model: Path, frames) -> None:
    from engine.crop import CropBox

    frame = frames[150]
    boxes = [CropBox(560, 400, 520), CropBox(1000, 200, 300), CropBox(300, 500, 700)]
    with open_backend(bundled_model, "onnxruntime") as backend:
        plain = backend.estimate([frame] * 3, boxes)
        flipped = backend.estimate([frame] * 3, boxes, flip=True)
        marked = np.array([False, True, True])
        got = backend.estimate([frame] * 3, boxes, unsure=lambda poses: marked)
        assert not np.allclose(plain[1:], flipped[1:])  # the two reads differ where it matters
        np.testing.assert_array_equal(got[0], plain[0])
        np.testing.assert_allclose(got[1:], flipped[1:], atol=1e-4)
        # With the flip test on every crop, the test is not asked.
        asked: list[int] = []
        backend.estimate([frame] * 3, boxes, flip=True, unsure=lambda poses: asked.append(1) or marked)
        assert not asked


def test_the_pipeline_reads_a_pose_again_only_where_it_is_not_well_seen(bundled_model: Path, bundled_clip: Path,
                                                                         frames) -> None:
    with open_backend(bundled_model, "onnxruntime") as backend:
        def first_pose(mode: str, index: int) -> tuple[PosePipeline, np.ndarray]:
            pipeline = PosePipeline(backend, PipelineConfig().with_flip(mode))
            return pipeline, pipeline.process(frames[index], index, smooth=False).keypoints

        threshold = backend.metadata.threshold_for(False)
        min_joints = PipelineConfig().tracker.min_joints
        # Nobody in view: the plain read is unsure, so the pose is the flip test's.
        _, off = first_pose("off", 10)
        assert (off[:, 2] >= threshold).sum() < min_joints
        unsure, got = first_pose("unsure", 10)
        _, on = first_pose("on", 10)
        np.testing.assert_allclose(got, on, atol=1e-3)
        assert unsure.unsure_reads >= 1 and unsure.pose_crops == 2
        # Following the walker through the clip, most frames are well seen (one read each), some not.
        pipeline = PosePipeline(backend, PipelineConfig().with_flip("unsure"))
        frames_run = 0
        for f in VideoSource(bundled_clip):
            if f.index > 200:
                break
            pipeline.process(f.image, f.index, f.timestamp)
            frames_run += 1
        assert 0 < pipeline.unsure_reads < frames_run / 2, pipeline.unsure_reads
        assert pipeline.pose_crops == frames_run + pipeline.unsure_reads


def test_flip_modes_map_onto_the_config() -> None:
    assert [PipelineConfig().with_flip(m).flip_mode for m in FLIP_MODES] == list(FLIP_MODES)
    config = PipelineConfig().with_flip("unsure")
    assert not config.flip_test and config.flip_when_unsure
    with pytest.raises(ConfigError, match="flip mode"):
        PipelineConfig().with_flip("sometimes")


def test_annotate_says_how_poses_were_read(bundled_model: Path, tmp_path: Path, frames) -> None:
    import cv2

    from engine.commands import annotate

    image = tmp_path / "walker.png"
    cv2.imwrite(str(image), frames[150])
    headers = {}
    for args in (["--flip-unsure"], ["--no-flip"], ["--flip"], []):
        out = tmp_path / ("_".join(args) or "default")
        assert annotate.main([str(image), "--out", str(out), "--model", str(bundled_model), "--quiet",
                              *args]) == 0
        headers[" ".join(args)] = json.loads((out / "walker.json").read_text())["model"]
    assert {k: (h["flip_mode"], h["flip_test"]) for k, h in headers.items()} == {
        "--flip-unsure": ("unsure", False), "--no-flip": ("off", False), "--flip": ("on", True), "": ("on", True)}


def test_annotate_reads_a_file_after_a_bare_flip_and_refuses_two_modes(capsys) -> None:
    from engine.commands import annotate

    parser = annotate.build_parser()
    assert parser.parse_args(["--flip", "clip.mp4"]).inputs == [Path("clip.mp4")]
    assert parser.parse_args(["clip.mp4", "--flip-unsure"]).flip == "unsure"
    with pytest.raises(SystemExit) as exc:
        parser.parse_args(["--flip", "--no-flip", "clip.mp4"])
    assert exc.value.code == 6
    err = capsys.readouterr().err
    assert "not allowed with argument --flip" in err and len(err.strip().splitlines()) == 1


def test_bench_takes_the_same_flags() -> None:
    from engine.commands.bench import build_parser

    assert build_parser().parse_args(["--flip"]).flip == "on"
    assert build_parser().parse_args([]).flip == "off"
    assert build_parser().parse_args(["--flip-unsure"]).flip == "unsure"
