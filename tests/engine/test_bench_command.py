"""``hgpose bench``: both benchmarks on real input, and bad options as one-line errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from engine.commands.bench import main as bench
from engine.roi import TrackerConfig, search_boxes


def test_batch_benchmark_prints_a_row_per_batch(tiny_onnx: Path, capsys: pytest.CaptureFixture) -> None:
    code = bench(["--model", str(tiny_onnx), "--backend", "onnxruntime", "--batch", "1,4", "--iterations", "3"])
    out = capsys.readouterr().out
    assert code == 0
    rows = [line.split() for line in out.splitlines() if line.split() and line.split()[0].isdigit()]
    assert [r[0] for r in rows] == ["1", "4"]
    for _, p50, p99, rate in rows:
        assert 0 < float(p50) <= float(p99) and float(rate) > 0


def test_pipeline_benchmark_on_a_real_clip(bundled_model: Path, clip_excerpt, capsys: pytest.CaptureFixture) -> None:
    clip = clip_excerpt(16, "bench.mp4")
    code = bench(["--model", str(bundled_model), "--backend", "onnxruntime", "--clip", str(clip)])
    out = capsys.readouterr().out
    assert code == 0
    # Both precisions of the bundled model (it ships an INT8 file), 16 frames less the 10 warm-up frames.
    assert out.count("bench.mp4: 6 frames") == 2 and "(fp32)]" in out and "(int8)]" in out
    assert "load average" in out.splitlines()[0] and "load average" in out.splitlines()[-1]
    table = out.split("onnxruntime: FP32 and INT8 side by side")[1].splitlines()
    fps_row = next(line.split() for line in table if line.split()[:1] == ["FPS"])
    measured = [float(line.split()[-1]) for line in out.splitlines() if line.startswith("FPS ")]
    assert [float(v) for v in fps_row[1:3]] == pytest.approx(measured, abs=0.051)  # the table repeats them
    assert all(v > 0 for v in measured)
    # Crops are counted over the whole clip, warm-up included: one per frame for the pose (no flip
    # test), and the person search's on the excerpt's empty first frames (the large crops' grid,
    # which shows nobody there, so the finer grid is not run).
    crops = re.findall(r"crops run: (\d+) for the pose, (\d+) by the person search \(([\d.]+) % of all\)", out)
    assert len(crops) == 2
    for pose, search, share in crops:
        assert int(pose) == 16 and int(search) >= len(search_boxes(1280, 720, TrackerConfig().search_scales[:1]))
        assert float(share) == pytest.approx(100 * int(search) / (int(pose) + int(search)), abs=0.051)
    # The excerpt's scene is static: one whole-frame search finds nobody, and the ones that fall due
    # after it (every 10 frames while lost) are skipped.
    searches = re.findall(r"whole-frame searches: (\d+) run, (\d+) skipped .*, (\d+) deferred", out)
    assert searches == [("1", "1", "0")] * 2


def test_pipeline_benchmark_counts_the_reads_the_unsure_flip_test_adds(bundled_model: Path, clip_excerpt,
                                                                         capsys: pytest.CaptureFixture) -> None:
    clip = clip_excerpt(16, "bench.mp4")  # nobody in view yet: every pose read is unsure
    assert bench(["--model", str(bundled_model), "--backend", "onnxruntime", "--clip", str(clip),
                  "--precision", "int8", "--flip-unsure"]) == 0
    pose, again = map(int, re.findall(r"crops run: (\d+) for the pose \((\d+) frames read mirrored too, as unsure\)",
                                      capsys.readouterr().out)[0])
    assert (pose, again) == (32, 16)


@pytest.mark.parametrize(("args", "code", "words"), [
    (["--model", "missing.onnx"], 3, "model file missing.onnx does not exist"),
    (["--batch", "1", "--flip"], 6, "--flip and --zoom-test apply to the pipeline benchmark"),
    (["--batch", "1", "--flip-unsure"], 6, "--flip and --zoom-test apply to the pipeline benchmark"),
    (["--batch", "1", "--zoom-test"], 6, "--flip and --zoom-test apply to the pipeline benchmark"),
    (["--backend", "cuda9000"], 4, "unknown backend"),
])
def test_bad_options_are_one_line(args: list[str], code: int, words: str, capsys: pytest.CaptureFixture) -> None:
    assert bench(args) == code
    err = capsys.readouterr().err
    assert words in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_a_clip_shorter_than_the_warm_up(bundled_model: Path, clip_excerpt, capsys: pytest.CaptureFixture) -> None:
    clip = clip_excerpt(8, "tiny.mp4")
    assert bench(["--model", str(bundled_model), "--backend", "onnxruntime", "--clip", str(clip)]) == 2
    assert "no frames beyond the 10 warm-up frames" in capsys.readouterr().err


@pytest.mark.parametrize(("args", "words"), [
    (["--batch", "1", "--iterations", "0"], "argument --iterations: must be at least 1, got 0"),
    (["--batch", "0"], "argument --batch: every value must be at least 1, got 0"),
    (["--batch", "1,x"], "argument --batch: expected comma-separated whole numbers, got '1,x'"),
    (["--frames", "0"], "argument --frames: must be at least 1, got 0"),
    (["--frames", "-3"], "argument --frames: must be at least 1, got -3"),
])
def test_option_values_are_checked_before_any_work(args: list[str], words: str,
                                                   capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as info:
        bench(args)
    err = capsys.readouterr().err
    assert info.value.code == 6 and err.startswith(f"hgpose bench: error: {words}") and err.count("\n") == 1


def test_a_missing_clip_is_refused_before_any_model_loads(capsys: pytest.CaptureFixture) -> None:
    # The model is missing too: the clip is checked first, so the clip is what the line names.
    assert bench(["--clip", "nope.mp4", "--backend", "onnxruntime"]) == 2
    assert capsys.readouterr().err == "hgpose bench: error: video nope.mp4 does not exist\n"


def test_a_folder_as_the_clip_is_named_a_folder(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    # The pipeline benchmark decodes a video; unlike annotate it takes no folder of images.
    (tmp_path / "im1.jpg").write_bytes(b"")
    assert bench(["--clip", str(tmp_path), "--backend", "onnxruntime"]) == 2
    assert capsys.readouterr().err == f"hgpose bench: error: {tmp_path} is a folder, not a video file\n"


def test_pipeline_benchmark_shows_a_bar_of_the_frames_run(bundled_model: Path, clip_excerpt,
                                                           capsys: pytest.CaptureFixture) -> None:
    clip = clip_excerpt(16, "bench.mp4")
    args = ["--model", str(bundled_model), "--backend", "onnxruntime", "--precision", "int8", "--clip", str(clip)]
    assert bench(args) == 0
    out, err = capsys.readouterr()
    # On stderr, over the whole clip (warm-up frames included), named by backend, precision and clip.
    assert "onnxruntime int8 bench.mp4:   0%" in err and "| 0/16 [" in err
    assert "bench.mp4: 6 frames" in out and "frame/s" not in out  # the results on stdout as before
    assert bench([*args, "--frames", "3"]) == 0
    out, err = capsys.readouterr()
    assert "| 0/13 [" in err and "bench.mp4: 3 frames" in out  # 10 warm-up frames and the 3 measured
    assert bench([*args, "--quiet"]) == 0
    out, err = capsys.readouterr()
    assert err == "" and "bench.mp4: 6 frames" in out


def test_batch_benchmark_shows_a_bar_of_the_calls(tiny_onnx: Path, capsys: pytest.CaptureFixture) -> None:
    args = ["--model", str(tiny_onnx), "--backend", "onnxruntime", "--batch", "1,4", "--iterations", "3"]
    assert bench(args) == 0
    out, err = capsys.readouterr()
    # 5 warm-up and 3 timed calls per batch size.
    assert "onnxruntime fp32 batch 1:   0%" in err and "| 0/16 [" in err and "call/s" not in out
    assert bench([*args, "--quiet"]) == 0
    assert capsys.readouterr().err == ""
