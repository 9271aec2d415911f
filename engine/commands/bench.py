"""``hgpose bench``: the speed of each backend, per pipeline stage or per batch size.

Without ``--batch``: per-stage milliseconds and FPS on a clip (by default the bundled one) for each
available backend. With ``--batch``: raw inference latency (p50/p99) and throughput per batch size.

ONNX Runtime on the CPU is measured at both precisions when the model has an INT8 file, and a
final table puts FP32 and INT8 side by side (``--precision`` measures one). The machine's load
(1-minute load average) is printed with the figures: on a shared machine they move with it.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from engine.cli_options import (
    CommandParser,
    add_flip_option,
    add_runtime_options,
    add_zoom_option,
    int_list,
    positive_int,
    spinning_flag,
)
from engine.cli_support import argv_or_default, run_command
from engine.commands.annotate import ANNOTATE_SPINNING
from engine.errors import BackendError, ConfigError
from engine.model_file import require_file

if TYPE_CHECKING:
    from engine.benchmark import BatchBench, PipelineBench


def build_parser() -> argparse.ArgumentParser:
    p = CommandParser("hgpose bench", __doc__)
    p.add_argument("--model", type=Path, help="model file (default: the bundled model)")
    p.add_argument("--backend", action="append", default=[],
                   help="backend to measure (repeatable; default: every backend available here)")
    p.add_argument("--clip", type=Path, help="video for the pipeline benchmark (default: the bundled clip)")
    p.add_argument("--frames", type=positive_int, default=None, metavar="N",
                   help="frames to measure after the warm-up (default: the whole clip)")
    add_flip_option(p, "off", "the pipeline's own default")
    add_zoom_option(p, False, "the pipeline's own default")
    p.add_argument("--batch", type=int_list, metavar="N,N,...",
                   help="comma-separated batch sizes for the raw inference benchmark, e.g. 1,8,64")
    p.add_argument("--iterations", type=positive_int, default=50, metavar="N",
                   help="timed iterations per batch size (50)")
    add_runtime_options(p, spinning=ANNOTATE_SPINNING, precision=False)  # the pipeline measured is annotate's
    p.add_argument("--precision", choices=("both", "fp32", "int8"), default="both",
                   help="both (default): FP32 and, where an INT8 file exists, INT8 for onnxruntime; or one")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def _available(model: Path) -> list[str]:
    from engine.backends.registry import BACKENDS, resolve_backend
    from engine.errors import HgposeError

    names = []
    for name in BACKENDS[1:]:
        try:
            resolve_backend(model, name)
        except HgposeError:
            continue
        names.append(name)
    return names


def _runs(model: Path, names: list[str], precision: str) -> list[tuple[str, str]]:
    """(backend, precision) pairs to measure: onnxruntime at FP32 and INT8 for ``both`` when the model
    has an INT8 file; other backends at their own precision (INT8 is CPU-only)."""
    from engine.model_file import int8_sibling

    has_int8 = int8_sibling(model).is_file()
    runs = []
    for name in names:
        if name != "onnxruntime":
            if precision != "int8":
                runs.append((name, "auto" if name == "tensorrt" else "fp32"))
            continue
        wanted = {"both": ["fp32", "int8"] if has_int8 else ["fp32"], "fp32": ["fp32"], "int8": ["int8"]}
        runs.extend((name, p) for p in wanted[precision])
    return runs


def _load() -> str:
    return f"{os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else "n/a"


def _print_side_by_side(pipeline: dict[tuple[str, str], PipelineBench],
                        batched: dict[tuple[str, str], list[BatchBench]]) -> None:
    """FP32 beside INT8 for each backend measured at both (nothing when none was)."""
    for name in sorted({n for n, _ in [*pipeline, *batched]}):
        both = (name, "fp32"), (name, "int8")
        if all(k in pipeline for k in both):
            print(f"\n{name}: FP32 and INT8 side by side")
            a, b = pipeline[both[0]], pipeline[both[1]]
            print(f"{'':>10} {'FP32':>8} {'INT8':>8} {'speed-up':>10}")
            print(f"{'FPS':>10} {a.fps:>8.1f} {b.fps:>8.1f} {b.fps / a.fps:>9.2f}x")
            for stage in ("infer", "total"):
                if stage in a.stage_ms:
                    x, y = a.stage_ms[stage], b.stage_ms[stage]
                    print(f"{stage + ' ms':>10} {x:>8.2f} {y:>8.2f} {x / max(y, 1e-9):>9.2f}x")
        elif all(k in batched for k in both):
            print(f"\n{name}: FP32 and INT8 side by side")
            print(f"{'batch':>6} {'FP32 p50':>9} {'INT8 p50':>9} {'FP32 /s':>9} {'INT8 /s':>9} {'speed-up':>9}")
            for f, i in zip(batched[both[0]], batched[both[1]], strict=True):
                print(f"{f.batch:>6} {f.p50_ms:>9.2f} {i.p50_ms:>9.2f} {f.crops_per_s:>9.1f} {i.crops_per_s:>9.1f} "
                      f"{f.p50_ms / max(i.p50_ms, 1e-9):>8.2f}x")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv_or_default(argv))

    def body() -> int:
        from engine.assets import default_clip_path, default_model_path
        from engine.backends.registry import (
            open_backend,
            ort_cuda_available,
            tensorrt_available,
            torch_cuda_available,
        )
        from engine.benchmark import PIPELINE_STAGES, bench_batches, bench_pipeline
        from engine.pipeline import PipelineConfig
        from engine.sources import VideoSource

        model = require_file(args.model or default_model_path())
        clip = args.clip or default_clip_path()
        if not args.batch:  # a missing, folder or unreadable clip is refused now, before any model loads
            VideoSource(clip).close()
        batches = args.batch or []
        if batches and (args.flip != "off" or args.zoom_test):
            raise ConfigError("--flip and --zoom-test apply to the pipeline benchmark; --batch times raw inference")
        names = args.backend or _available(model)
        gpu = {"tensorrt": tensorrt_available, "torch-cuda": torch_cuda_available,
               "onnxruntime-cuda": ort_cuda_available}
        if not args.backend:  # only measure GPU backends where a GPU is present
            names = [n for n in names if n not in gpu or gpu[n]()]
        if not names:
            raise BackendError(f"no backend here can run {model}; see `hgpose bench --help` for the names")
        runs = _runs(model, names, args.precision)
        print(f"model {model}; load average {_load()} (1 min) on {os.cpu_count()} CPUs")
        pipeline: dict[tuple[str, str], PipelineBench] = {}
        batched: dict[tuple[str, str], list[BatchBench]] = {}
        for name, precision in runs:
            backend = open_backend(model, name, precision=precision, spinning=spinning_flag(args.spinning))
            with backend:
                key = (name, backend.metadata.precision)
                print(f"\n[{backend.describe()}]")
                if batches:
                    print(f"{'batch':>6} {'p50 ms':>9} {'p99 ms':>9} {'crops/s':>10}")
                    batched[key] = bench_batches(backend, batches, iterations=args.iterations,
                                                 progress=not args.quiet)
                    for b in batched[key]:
                        print(f"{b.batch:>6} {b.p50_ms:>9.2f} {b.p99_ms:>9.2f} {b.crops_per_s:>10.1f}")
                else:
                    r = pipeline[key] = bench_pipeline(backend, clip, max_frames=args.frames or 0,
                                                       config=PipelineConfig(zoom_test=args.zoom_test).with_flip(args.flip),
                                                       progress=not args.quiet)
                    stages = "  ".join(f"{k} {r.stage_ms[k]:.2f}" for k in PIPELINE_STAGES)
                    zoom = ", zoom test" if args.zoom_test else ""
                    print(f"{clip.name}: {r.frames} frames (flip {args.flip}{zoom}), ms/frame: {stages}")
                    print(f"FPS {r.fps:.1f}")
                    unsure = f" ({r.unsure_reads} frames read mirrored too, as unsure)" if args.flip == "unsure" else ""
                    print(f"crops run: {r.pose_crops} for the pose{unsure}, {r.search_crops} by the person search "
                          f"({100 * r.search_share:.1f} % of all)")
                    run, skipped, deferred = r.searches
                    print(f"whole-frame searches: {run} run, {skipped} skipped (scene unchanged since one found "
                          f"nobody), {deferred} deferred (the motion cue followed a trace of someone)")
        _print_side_by_side(pipeline, batched)
        print(f"load average {_load()} (1 min) at the end")
        return 0

    return run_command("bench", body)
