"""``hgpose bench``: per-stage milliseconds and FPS on the bundled clip for each available backend,
or, with ``--batch``, raw inference latency (p50/p99) and throughput per batch size."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from engine.cli_support import argv_or_default, run_command
from engine.errors import BackendError, ConfigError
from engine.model_file import require_file


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hgpose bench", description=__doc__)
    p.add_argument("--model", type=Path, help="model file (default: the bundled model)")
    p.add_argument("--backend", action="append", default=[],
                   help="backend to measure (repeatable; default: every backend available here)")
    p.add_argument("--clip", type=Path, help="video for the pipeline benchmark (default: the bundled clip)")
    p.add_argument("--frames", type=int, default=0, help="frames to measure (default: the whole clip)")
    p.add_argument("--flip", action="store_true", help="include the flip test")
    p.add_argument("--batch", help="comma-separated batch sizes for the raw inference benchmark, e.g. 1,8,64")
    p.add_argument("--iterations", type=_positive, default=50, help="timed iterations per batch size")
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

        model = require_file(args.model or default_model_path())
        batches = []
        if args.batch:
            try:
                batches = [int(b) for b in args.batch.split(",")]
            except ValueError:
                raise ConfigError(f"--batch must be comma-separated integers, got {args.batch!r}") from None
            if any(b < 1 for b in batches):
                raise ConfigError("--batch sizes must be positive")
            if args.flip:
                raise ConfigError("--flip applies to the pipeline benchmark; --batch times raw inference")
        names = args.backend or _available(model)
        gpu = {"tensorrt": tensorrt_available, "torch-cuda": torch_cuda_available,
               "onnxruntime-cuda": ort_cuda_available}
        if not args.backend:  # only measure GPU backends where a GPU is present
            names = [n for n in names if n not in gpu or gpu[n]()]
        if not names:
            raise BackendError(f"no backend here can run {model}; see `hgpose bench --help` for the names")
        clip = args.clip or default_clip_path()
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
                    r = bench_pipeline(backend, clip, max_frames=args.frames,
                                       config=PipelineConfig(flip_test=args.flip))
                    stages = "  ".join(f"{k} {r.stage_ms[k]:.2f}" for k in PIPELINE_STAGES)
                    print(f"{clip.name}: {r.frames} frames, ms/frame: {stages}")
                    print(f"FPS {r.fps:.1f}")
        return 0

    return run_command("bench", body)
