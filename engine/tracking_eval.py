"""Tracking measured against a reference over several runs of one clip (``hgpose track-eval``).

One run of a clip is a chaotic measurement: a crop a few pixels off, or one frame lost, changes what
the tracker follows next, so a change to the tracker (or the model) moves one run's figures by
several points either way. On the reference clips PCK@0.2 varied with a standard deviation of 0.035
to 0.095 between runs that differ only in their first frame or the flip test. This module runs the
pipeline on the same clip from several start frames, with and without the flip test, scores each
run with :func:`engine.comparison.compare` and reports the mean, spread and extremes.

Runs go frame by frame (``PosePipeline.process``, as the app does), each from a fresh pipeline, and
decode the video again (memory stays flat however long the clip) up to the reference's last frame.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.backends.base import Backend
from engine.comparison import Comparison, KeypointFile, check_same_source, compare
from engine.errors import ConfigError, InputError
from engine.flip_modes import check_flip_mode
from engine.pipeline import PipelineConfig, PosePipeline
from engine.sources import VideoSource

# The figures summarised over runs (Comparison attributes); ``first`` is frames, the rest shares.
FIGURES = ("found", "pck_drawn", "pck_all", "legs_in_box", "first")


@dataclass(frozen=True)
class TrackRun:
    """One run: the clip from frame ``start`` on, pose crops read in flip mode ``mode``
    (:data:`engine.flip_modes.FLIP_MODES`)."""

    start: int
    mode: str
    comparison: Comparison

    @property
    def flip(self) -> bool:
        """Whether every pose crop had the flip test."""
        return self.mode == "on"


@dataclass(frozen=True)
class TrackingEvaluation:
    """All runs of one clip; :meth:`summary` gives mean, standard deviation (of the runs themselves,
    not an estimate for more runs: ``ddof=0``), min and max per figure, and how many runs had it."""

    video: Path
    reference: Path
    runs: tuple[TrackRun, ...]
    zoom_test: bool = False

    def values(self, figure: str) -> list[float]:
        """One figure over the runs that have it (``first`` is missing where a run found nobody)."""
        out = []
        for run in self.runs:
            v = getattr(run.comparison, figure)
            if v is not None:
                out.append(float(v))
        return out

    def summary(self) -> dict[str, dict[str, float | int | None]]:
        table: dict[str, dict[str, float | int | None]] = {}
        for figure in FIGURES:
            v = np.array(self.values(figure))
            if len(v) == 0:
                table[figure] = {"mean": None, "sd": None, "min": None, "max": None, "runs": 0}
            else:
                table[figure] = {"mean": float(v.mean()), "sd": float(v.std()), "min": float(v.min()),
                                 "max": float(v.max()), "runs": len(v)}
        return table

    def modes(self) -> list[str]:
        """The flip modes the runs used, in run order."""
        return list(dict.fromkeys(r.mode for r in self.runs))

    def of_mode(self, mode: str) -> TrackingEvaluation:
        """The runs in one flip mode only."""
        return dataclasses.replace(self, runs=tuple(r for r in self.runs if r.mode == mode))

    def as_dict(self) -> dict[str, Any]:
        """``summary`` over every run, ``by_flip`` per flip mode, then the runs."""
        return {"video": str(self.video), "reference": str(self.reference), "zoom_test": self.zoom_test,
                "summary": self.summary(),
                "by_flip": {m: self.of_mode(m).summary() for m in self.modes()},
                "runs": [{"start": r.start, "flip": r.flip, "flip_mode": r.mode, **r.comparison.as_dict()}
                         for r in self.runs]}


def check_inputs(video: Path, reference: KeypointFile, starts: Sequence[int], flips: Sequence[str]) -> None:
    """Raise InputError or ConfigError, before any model is loaded, unless ``reference`` describes
    ``video`` (its name and frame size, no more frames than it has) and every start is in it."""
    if len(reference.indices) == 0:
        raise InputError(f"{reference.path} has no frames")
    with VideoSource(video) as source:
        info = source.info
    check_same_source({"path": str(video), "width": info.width, "height": info.height}, Path(video),
                      reference.source, reference.path)
    last = int(reference.indices[-1])
    if info.frame_count and last >= info.frame_count:
        raise InputError(f"{reference.path} describes frames up to {last}, {video} has {info.frame_count}")
    if not starts or not flips:
        raise ConfigError("give at least one start frame and one flip setting")
    for mode in flips:
        check_flip_mode(mode)
    late = [s for s in starts if s > last]
    if late:
        raise ConfigError(f"start frame(s) {', '.join(map(str, late))} past the reference's last frame ({last})")


def _run(backend: Backend, video: Path, reference: KeypointFile, start: int, config: PipelineConfig,
         on_frame: Callable[[], object], joints: Sequence[str] | None, threshold: float | None) -> Comparison:
    """Track from frame ``start`` to the end; score those frames against the reference's."""
    pipeline = PosePipeline(backend, config)
    rows = {int(index): row for row, index in enumerate(reference.indices)}
    keypoints = np.full((len(reference.indices), len(reference.joints), 3), np.nan)
    boxes = np.full((len(reference.indices), 4), np.nan)
    last = int(reference.indices[-1])
    with VideoSource(video) as source:
        for frame in source:
            if frame.index > last:
                break  # nothing left to score
            if frame.index < start:
                continue
            result = pipeline.process(frame.image, frame.index, frame.timestamp)
            on_frame()
            row = rows.get(frame.index)
            if row is not None:
                keypoints[row], boxes[row] = result.keypoints, result.box.xyxy
    done = reference.indices >= start
    unscored = int((~np.isfinite(keypoints[done]).all(axis=(1, 2))).sum())
    if unscored:
        raise InputError(f"{video}: {unscored} of the frames {reference.path} describes were not decoded "
                         "(or gave no pose)")
    ref = dataclasses.replace(reference, keypoints=reference.keypoints[done], boxes=reference.boxes[done],
                              indices=reference.indices[done])
    pred = dataclasses.replace(ref, path=Path(f"{video.name} (run from frame {start})"), keypoints=keypoints[done],
                               boxes=boxes[done], threshold=backend.metadata.threshold_for(config.flip_test))
    return compare(pred, ref, joints, threshold)


def evaluate_tracking(backend: Backend, video: Path, reference: KeypointFile, starts: Sequence[int],
                      flips: Sequence[str], config: PipelineConfig | None = None, progress: bool = False,
                      joints: Sequence[str] | None = None, threshold: float | None = None) -> TrackingEvaluation:
    """Run the pipeline on ``video`` once per (start, flip) and score each run against ``reference``.

    ``config``: the pipeline's options (its flip settings are set per run). ``flips``: a flip mode
    of :data:`engine.flip_modes.FLIP_MODES` per run. ``joints`` and
    ``threshold``: as :func:`engine.comparison.compare` (default: its judged joints, and the model's
    calibrated threshold, at which ``annotate`` draws).
    """
    config = config or PipelineConfig()
    video = Path(video)
    check_inputs(video, reference, starts, flips)
    model_joints = tuple(backend.metadata.skeleton_spec.joints)
    if model_joints != reference.joints:
        raise InputError(f"{reference.path} has the joints {', '.join(reference.joints)}; the model's skeleton "
                         f"{backend.metadata.skeleton_spec.name} has {', '.join(model_joints)}")
    last = int(reference.indices[-1])
    total = sum(last + 1 - s for s in starts) * len(flips)
    from tqdm import tqdm

    runs = []
    with tqdm(total=total, unit="frame", desc=f"track-eval {video.name}", disable=not progress) as bar:
        for start in starts:
            for mode in flips:
                run_config = config.with_flip(mode)
                comparison = _run(backend, video, reference, start, run_config, lambda: bar.update(1), joints,
                                  threshold)
                runs.append(TrackRun(start, mode, comparison))
    return TrackingEvaluation(video, reference.path, tuple(runs), config.zoom_test)


def format_evaluation(e: TrackingEvaluation) -> str:
    """A table of mean, sd, min and max per figure, then one line per run."""
    labels = {"found": "found", "pck_drawn": "PCK drawn", "pck_all": "PCK all", "legs_in_box": "legs in box",
              "first": "first"}

    def f(v: float | int | None, digits: int = 3) -> str:
        return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"

    lines = [f"{e.video.name} against {e.reference}: {len(e.runs)} runs"
             f"{', zoom test' if e.zoom_test else ', no zoom test'}",
             f"{'':12s} {'mean':>7s} {'sd':>7s} {'min':>7s} {'max':>7s} {'runs':>5s}"]
    for figure, row in e.summary().items():
        digits = 1 if figure == "first" else 3
        cells = " ".join(f"{f(row[k], digits):>7s}" for k in ("mean", "sd", "min", "max"))
        lines.append(f"{labels[figure]:12s} {cells} {row['runs']:>5d}")  # "first": runs that found anyone
    if len(e.modes()) > 1:  # each way of reading on its own: what the README quotes
        for mode in e.modes():
            means = {k: v["mean"] for k, v in e.of_mode(mode).summary().items()}
            lines.append(f"flip {mode:6s} " + "  ".join(
                f"{labels[k]} {f(v, 1 if k == 'first' else 3)}" for k, v in means.items()))
    lines.append("start  flip     found  PCK drawn  PCK all  legs in box  first")
    for r in e.runs:
        c = r.comparison
        first = "–" if c.first is None else f"{c.first:+d}"
        lines.append(f"{r.start:5d}  {r.mode:6s}  {f(c.found):>6s}  {f(c.pck_drawn):>9s}  "
                     f"{f(c.pck_all):>7s}  {f(c.legs_in_box):>11s}  {first:>5s}")
    return "\n".join(lines)
