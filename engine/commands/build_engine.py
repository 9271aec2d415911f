"""``hgpose build-engine model.onnx --out model.engine``: a TensorRT engine (+ JSON sidecar) for this GPU.

Build from the FP16 export (``hgpose export CKPT --out m16.onnx --fp16``): the network is strongly
typed, so the ONNX graph's types decide the precision. The engine runs only with this TensorRT
version on this GPU model; the sidecar ``<engine>.json`` records both, and loading refuses a
mismatch with the command to rebuild.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from engine.atomic import check_output_file
from engine.cli_options import CommandParser, positive_float
from engine.cli_support import argv_or_default, run_command
from engine.errors import ConfigError
from engine.gpu.engine_sidecar import DEFAULT_BATCH_PROFILE, BuildSettings, parse_batch_profile, sidecar_path


def build_parser() -> argparse.ArgumentParser:
    p = CommandParser("hgpose build-engine", __doc__)
    p.add_argument("onnx", type=Path, help="ONNX model from `hgpose export --fp16` (FP32 exports build FP32 engines)")
    p.add_argument("--out", type=Path, required=True, help="output .engine path (the sidecar is <out>.json)")
    p.add_argument("--batch", default=str(DEFAULT_BATCH_PROFILE), metavar="MIN:OPT:MAX",
                   help="batch sizes the engine accepts, tuned for OPT; N alone means exactly N "
                        f"(default {DEFAULT_BATCH_PROFILE}; the flip test doubles the batch)")
    p.add_argument("--workspace", type=positive_float, metavar="GB",
                   help="limit on TensorRT's scratch memory while choosing kernels (default: TensorRT's, "
                        "the whole GPU)")
    p.add_argument("--timing-cache", type=Path, metavar="PATH",
                   help="kernel timing cache: loaded if it exists, saved after the build (makes rebuilds fast)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv_or_default(argv))

    def body() -> int:
        if args.out.suffix != ".engine":
            raise ConfigError(f"--out must end in .engine (got {args.out.name}), so backends can find it")
        check_output_file(args.out)
        settings = BuildSettings(batch=parse_batch_profile(args.batch), workspace_gb=args.workspace,
                                 timing_cache=str(args.timing_cache.resolve()) if args.timing_cache else None)
        from engine.gpu.tensorrt_support import require_tensorrt

        require_tensorrt("building a TensorRT engine")
        from engine.gpu.tensorrt_build import build_engine

        report = build_engine(args.onnx, args.out, settings)
        sc = report.sidecar
        print(f"wrote {report.engine} ({sc.engine_bytes / 1e6:.1f} MB) and {sidecar_path(report.engine).name}")
        rt = sc.runtime
        print(f"TensorRT {rt.tensorrt_version} on {rt.gpu_name} (compute {rt.compute_capability}), {sc.precision} "
              f"strongly typed, batch {sc.settings.batch}, input {sc.input_size}px, skeleton {sc.skeleton}")
        if args.timing_cache:
            state = "updated" if report.timing_cache_entries_loaded else "created"
            print(f"timing cache {state}: {args.timing_cache}")
        if sc.precision != "fp16":
            print("note: this ONNX is FP32, so the engine computes in FP32; export with --fp16 for FP16")
        return 0

    return run_command("build-engine", body)
