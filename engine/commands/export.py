"""``hgpose export CHECKPOINT --out model.onnx [--fp16]``: ONNX export with metadata and a parity check."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from engine.cli_options import CommandParser, int_at_least
from engine.cli_support import argv_or_default, run_command
from engine.errors import BackendError, ConfigError


def build_parser() -> argparse.ArgumentParser:
    p = CommandParser("hgpose export", __doc__)
    p.add_argument("checkpoint", type=Path, help="a .pt checkpoint written by hgpose train")
    p.add_argument("--out", type=Path, required=True, metavar="PATH", help="output .onnx path")
    p.add_argument("--fp16", action="store_true",
                   help="FP16 weights and compute inside, float32 input/output (for strongly typed TensorRT)")
    p.add_argument("--opset", type=int_at_least(17), default=17, help="ONNX opset (>= 17; default 17)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv_or_default(argv))

    def body() -> int:
        from engine.atomic import check_output_file
        from engine.model_file import require_file

        # Checked before torch loads (seconds), so a typo costs nothing.
        require_file(args.checkpoint)
        if args.out.suffix != ".onnx":
            raise ConfigError(f"--out must end in .onnx (got {args.out.name}), so backends can find it")
        check_output_file(args.out)
        try:
            from engine.export import export_onnx
        except ImportError as exc:
            raise BackendError(f"export needs PyTorch and onnx ({exc.name} is missing): "
                               "pip install 'hgpose[torch]'") from None
        report = export_onnx(args.checkpoint, args.out, fp16=args.fp16, opset=args.opset)
        m = report.metadata
        print(f"wrote {report.path} ({report.size_bytes / 1e6:.2f} MB, {m.precision}, opset {args.opset}, "
              f"input {m.input_size}px, skeleton {m.skeleton})")
        print(f"onnx.checker: ok; torch vs onnxruntime max abs diff: {report.max_abs_diff:.3e}")
        return 0

    return run_command("export", body)
