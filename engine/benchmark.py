"""Benchmarks: per-stage pipeline timings on a clip, and raw batched inference latency/throughput.

Numbers come from wall-clock timing of real work; they are reported, never asserted by tests.

Both benchmarks can show a progress bar (``progress=True``): a clip or a batch run lasts from
seconds to minutes. It is drawn so that it cannot move the figures: the bar redraws at most every
:data:`BAR_INTERVAL_S` seconds (tqdm reads the clock only every few updates in between), its
updates fall outside every timed call, and only the FPS's wall clock sees them at all, a
microsecond per frame of tens of milliseconds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from engine.backends.base import Backend
from engine.errors import InputError
from engine.pipeline import PipelineConfig, PosePipeline
from engine.sources import VideoSource

PIPELINE_STAGES = ("decode", "preprocess", "infer", "decode-heatmaps", "track", "total")
BAR_INTERVAL_S = 0.5  # the least time between two redraws of the progress bar


def _bar(total: int | None, desc: str, unit: str, progress: bool) -> tqdm:
    """A progress bar on stderr that goes away when done (``leave=False``): the results are printed
    right after it, and read as they did before there was a bar."""
    return tqdm(total=total, desc=desc, unit=unit, disable=not progress, dynamic_ncols=True,
                mininterval=BAR_INTERVAL_S, leave=False)


@dataclass(frozen=True)
class PipelineBench:
    """Mean milliseconds per stage over the measured frames, and end-to-end FPS (decode included).

    ``pose_crops`` and ``search_crops`` count the model crops over the whole clip, warm-up frames
    included (finding the person at the start is part of the work): the crops run for the pose
    itself (a flip test counts two) and those run by the person search and motion cue;
    ``unsure_reads``, the pose crops read mirrored as well because their plain read was unsure
    (flip mode ``unsure``; counted in ``pose_crops`` too). ``searches``: whole-frame searches run,
    skipped (the scene had not changed since one found nobody) and deferred (the motion cue followed
    a trace of someone), as :class:`engine.roi.PersonTracker` counts them.
    """

    backend: str
    device: str
    frames: int
    stage_ms: dict[str, float]
    fps: float
    pose_crops: int = 0
    search_crops: int = 0
    unsure_reads: int = 0
    searches: tuple[int, int, int] = (0, 0, 0)

    @property
    def search_share(self) -> float:
        """The person search's share of all crops run (0 when none ran)."""
        total = self.pose_crops + self.search_crops
        return self.search_crops / total if total else 0.0


@dataclass(frozen=True)
class BatchBench:
    """Latency percentiles (ms per batch) and throughput (crops per second) at one batch size."""

    backend: str
    batch: int
    p50_ms: float
    p99_ms: float
    crops_per_s: float


def bench_pipeline(backend: Backend, clip: Path, max_frames: int = 0, warmup_frames: int = 10,
                   config: PipelineConfig | None = None, progress: bool = False) -> PipelineBench:
    """Run the full frame -> pose pipeline on ``clip``; the first ``warmup_frames`` are not counted.

    ``decode`` is the time the loop waited for the next decoded frame (decoding runs in a thread, so
    this is what decoding costs the pipeline, not the decoder's own CPU time). ``progress``: a bar
    of the frames run, warm-up included. Raises ``InputError`` when ``clip`` is missing, a folder or
    not a readable video (:class:`engine.sources.VideoSource`).
    """
    pipeline = PosePipeline(backend, config)
    sums: dict[str, float] = dict.fromkeys(PIPELINE_STAGES, 0.0)
    n = 0
    t_start = 0.0
    video = VideoSource(clip)
    source = iter(video)
    # The container's frame count may be missing (0): the bar then counts without a total.
    bounds = [k for k in (video.info.frame_count, max_frames and max_frames + warmup_frames) if k]
    index = 0
    desc = f"{backend.name} {backend.metadata.precision} {Path(clip).name}"
    with _bar(min(bounds) if bounds else None, desc, "frame", progress) as bar:
        while True:
            t0 = time.perf_counter()
            frame = next(source, None)
            t_decode = (time.perf_counter() - t0) * 1000.0
            if frame is None or (max_frames and index >= max_frames + warmup_frames):
                break
            if index == warmup_frames:
                t_start = time.perf_counter() - t_decode / 1000.0
            result = pipeline.process(frame.image, frame.index, frame.timestamp)
            if index >= warmup_frames:
                n += 1
                sums["decode"] += t_decode
                for k in PIPELINE_STAGES[1:]:
                    sums[k] += result.timings_ms.get(k, 0.0)
                sums["total"] += t_decode
            index += 1
            bar.update(1)  # after the stage timings were taken: drawing is in none of them
    if n == 0:
        raise InputError(f"{clip} has no frames beyond the {warmup_frames} warm-up frames; "
                         "benchmark a longer clip")
    elapsed = time.perf_counter() - t_start
    return PipelineBench(backend.name, backend.device, n, {k: v / n for k, v in sums.items()}, n / elapsed,
                         pipeline.pose_crops, pipeline.tracker.search_crops, pipeline.unsure_reads,
                         (pipeline.tracker.searches_run, pipeline.tracker.searches_skipped,
                          pipeline.tracker.searches_deferred))


def bench_batches(backend: Backend, batches: list[int], iterations: int = 50, warmup: int = 5,
                  progress: bool = False) -> list[BatchBench]:
    """Time ``backend.infer`` on random normalised input at each batch size.

    ``progress``: a bar of the calls made over all batch sizes, warm-up calls included.
    """
    def desc(batch: int) -> str:
        return f"{backend.name} {backend.metadata.precision} batch {batch}"

    s = backend.metadata.input_size
    rng = np.random.default_rng(0)
    out = []
    with _bar(len(batches) * (warmup + iterations), desc(batches[0]) if batches else backend.name, "call",
              progress) as bar:
        for b in batches:
            bar.set_description(desc(b), refresh=False)
            x = rng.standard_normal((b, 3, s, s)).astype(np.float32)
            for _ in range(warmup):
                backend.infer(x)
                bar.update(1)
            times = []
            for _ in range(iterations):
                t0 = time.perf_counter()
                backend.infer(x)
                times.append((time.perf_counter() - t0) * 1000.0)
                bar.update(1)  # outside the timed call: a redraw never counts as latency
            t = np.asarray(times)
            out.append(BatchBench(backend.name, b, float(np.percentile(t, 50)), float(np.percentile(t, 99)),
                                  b * 1000.0 / float(t.mean())))
    return out
