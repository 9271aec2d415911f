"""``hgpose export CHECKPOINT --out model.onnx [--fp16 | --int8 --calibration PACK --val-pack PACK]``:
ONNX export with metadata and a parity check; with ``--int8`` also the static INT8 file for the CPU.

``--int8`` writes ``model.onnx`` (FP32) and ``model.int8.onnx`` (INT8 QDQ, per-channel weights,
calibrated on crops of the training pack), measures PCK@0.2 of both on the validation pack and
writes neither if INT8 loses more than ``--max-pck-loss`` (or the calibration crops are blank).
This command lives in ``train`` because it reads packs and measures PCK.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from engine.cli_options import CommandParser, int_at_least, non_negative_float
from engine.cli_support import argv_or_default, run_command
from engine.errors import BackendError, ConfigError
from train.int8_export import DEFAULT_CALIBRATION_CROPS, MAX_PCK_LOSS, export_int8


def build_parser() -> argparse.ArgumentParser:
    p = CommandParser("hgpose export", __doc__)
    p.add_argument("checkpoint", type=Path, help="a .pt checkpoint written by hgpose train")
    p.add_argument("--out", type=Path, required=True, metavar="PATH", help="output .onnx path (FP32 or FP16)")
    p.add_argument("--fp16", action="store_true",
                   help="FP16 weights and compute inside, float32 input/output (for strongly typed TensorRT)")
    p.add_argument("--int8", action="store_true",
                   help="also write the static INT8 sibling <stem>.int8.onnx for the CPU (needs --calibration "
                        "and --val-pack)")
    p.add_argument("--calibration", type=Path, metavar="PACK",
                   help="training pack whose person crops calibrate the INT8 activation ranges")
    p.add_argument("--val-pack", type=Path, metavar="PACK",
                   help="validation pack on which FP32 and INT8 PCK@0.2 are compared")
    p.add_argument("--calibration-crops", type=int_at_least(8), default=DEFAULT_CALIBRATION_CROPS, metavar="N",
                   help=f"crops drawn from the calibration pack (default {DEFAULT_CALIBRATION_CROPS})")
    p.add_argument("--max-pck-loss", type=non_negative_float, default=MAX_PCK_LOSS,
                   help=f"refuse to write when INT8 PCK@0.2 is lower than FP32's by more (default {MAX_PCK_LOSS:g})")
    p.add_argument("--opset", type=int_at_least(17), default=17, help="ONNX opset (>= 17; default 17)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv_or_default(argv))

    def body() -> int:
        calibration: Path | None = args.calibration
        val_pack: Path | None = args.val_pack
        if args.int8:
            if args.fp16:
                raise ConfigError("--int8 and --fp16 exclude each other (INT8 is made from the FP32 graph)")
            if calibration is None or val_pack is None:
                raise ConfigError("--int8 needs --calibration PACK (training crops) and --val-pack PACK "
                                  "(the PCK check), e.g. data/lspet-train.npz and data/lspet-val.npz")
        elif calibration is not None or val_pack is not None:
            raise ConfigError("--calibration and --val-pack apply to --int8")
        from engine.atomic import check_output_file
        from engine.model_file import int8_sibling, is_int8_onnx, require_file

        # Checked before torch loads (seconds), so a typo costs nothing.
        require_file(args.checkpoint)
        if args.out.suffix != ".onnx":
            raise ConfigError(f"--out must end in .onnx (got {args.out.name}), so backends can find it")
        if is_int8_onnx(args.out):
            raise ConfigError(f"--out names the FP32 file, m.onnx (got {args.out.name}); --int8 writes "
                              "m.int8.onnx beside it")
        check_output_file(args.out)
        if args.int8:
            check_output_file(int8_sibling(args.out))
        try:
            from engine.export import export_onnx
        except ImportError as exc:
            raise BackendError(f"export needs PyTorch and onnx ({exc.name} is missing): "
                               "pip install 'hgpose[torch]'") from None
        if calibration is not None and val_pack is not None:  # --int8 (checked above)
            r = export_int8(args.checkpoint, args.out, calibration, val_pack,
                            crops=args.calibration_crops, max_loss=args.max_pck_loss, opset=args.opset,
                            progress=not args.quiet)
            m = r.metadata
            print(f"wrote {r.fp32_path} ({r.fp32_bytes / 1e6:.2f} MB, fp32, opset {args.opset}, "
                  f"input {m.input_size}px, skeleton {m.skeleton})")
            print(f"wrote {r.int8_path} ({r.int8_bytes / 1e6:.2f} MB, int8 QDQ, {r.calibration_crops} "
                  f"calibration crops from {args.calibration})")
            print(f"onnx.checker: ok; torch vs onnxruntime max abs diff: {r.max_abs_diff:.3e}")
            print(f"PCK@0.2 on {args.val_pack}: fp32 {r.fp32_pck:.4f}, int8 {r.int8_pck:.4f} "
                  f"(loss {r.fp32_pck - r.int8_pck:+.4f}, limit {args.max_pck_loss:g})")
            return 0
        report = export_onnx(args.checkpoint, args.out, fp16=args.fp16, opset=args.opset)
        m = report.metadata
        print(f"wrote {report.path} ({report.size_bytes / 1e6:.2f} MB, {m.precision}, opset {args.opset}, "
              f"input {m.input_size}px, skeleton {m.skeleton})")
        print(f"onnx.checker: ok; torch vs onnxruntime max abs diff: {report.max_abs_diff:.3e}")
        return 0

    return run_command("export", body)


if __name__ == "__main__":
    sys.exit(main())
