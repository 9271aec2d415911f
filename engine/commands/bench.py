"""``hgpose bench``: the speed of each backend, per pipeline stage or per batch size.

Without ``--batch``: per-stage milliseconds and FPS on a clip (by default the bundled one) for each
available backend. With ``--batch``: raw inference latency (p50/p99) and throughput per batch size.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from engine.cli_options import CommandParser, int_list, positive_int
from engine.cli_support import argv_or_default, run_command
from engine.errors import BackendError, ConfigError, InputError
from engine.model_file import require_file


def build_parser() -> argparse.ArgumentParser:
    p = CommandParser("hgpose bench", __doc__)
    p.add_argument("--model", type=Path, help="model file (default: the bundled model)")
    p.add_argument("--backend", action="append", default=[],
                   help="backend to measure (repeatable; default: every backend available here)")
    p.add_argument("--clip", type=Path, help="video for the pipeline benchmark (default: the bundled clip)")
    p.add_argument("--frames", type=positive_int, default=None, metavar="N",
                   help="frames to measure after the warm-up (default: the whole clip)")
    p.add_argument("--flip", action="store_true", help="include the flip test")
    p.add_argument("--batch", type=int_list, metavar="N,N,...",
                   help="comma-separated batch sizes for the raw inference benchmark, e.g. 1,8,64")
    p.add_argument("--iterations", type=positive_int, default=50, metavar="N",
                   help="timed iterations per batch size (50)")
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
        if not args.batch:  # a missing or unreadable clip is refused now, before any model loads
            if not clip.exists():
                raise InputError(f"clip {clip} does not exist")
            VideoSource(clip).close()
        batches = args.batch or []
        if batches and args.flip:
            raise ConfigError("--flip applies to the pipeline benchmark; --batch times raw inference")
        names = args.backend or _available(model)
        gpu = {"tensorrt": tensorrt_available, "torch-cuda": torch_cuda_available,
               "onnxruntime-cuda": ort_cuda_available}
        if not args.backend:  # only measure GPU backends where a GPU is present
            names = [n for n in names if n not in gpu or gpu[n]()]
        if not names:
            raise BackendError(f"no backend here can run {model}; see `hgpose bench --help` for the names")
        print(f"model {model}")
        for name in names:
            backend = open_backend(model, name)
            with backend:
                print(f"\n[{backend.describe()}]")
                if batches:
                    print(f"{'batch':>6} {'p50 ms':>9} {'p99 ms':>9} {'crops/s':>10}")
                    for b in bench_batches(backend, batches, iterations=args.iterations):
                        print(f"{b.batch:>6} {b.p50_ms:>9.2f} {b.p99_ms:>9.2f} {b.crops_per_s:>10.1f}")
                else:
                    r = bench_pipeline(backend, clip, max_frames=args.frames or 0,
                                       config=PipelineConfig(flip_test=args.flip))
                    stages = "  ".join(f"{k} {r.stage_ms[k]:.2f}" for k in PIPELINE_STAGES)
                    print(f"{clip.name}: {r.frames} frames, ms/frame: {stages}")
                    print(f"FPS {r.fps:.1f}")
        return 0

    return run_command("bench", body)
