"""``hgpose calibrate CHECKPOINT --val-pack PACK``: measure and store a checkpoint's joint-confidence thresholds
(one for crops read alone, one for the flip test's).

Training does this itself; the command is for checkpoints trained before calibration was part of it.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from engine.cli_options import CommandParser
from engine.cli_support import argv_or_default, run_command
from engine.errors import InputError


def build_parser() -> argparse.ArgumentParser:
    p = CommandParser("hgpose calibrate", __doc__)
    p.add_argument("checkpoint", type=Path, help="a .pt checkpoint")
    p.add_argument("--val-pack", type=Path, required=True, help="validation pack made by hgpose prepare")
    p.add_argument("--out", type=Path, help="where to write the calibrated checkpoint (default: in place)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv_or_default(argv))

    def body() -> int:
        import torch

        from engine.checkpoint import model_from_state, read_checkpoint, save_checkpoint
        from engine.metadata import FLIP_THRESHOLD_KEY
        from train.calibration import calibration_thresholds
        from train.metrics import pck
        from train.pack import read_pack
        from train.trainer import predict_pack, validation_joints

        state = read_checkpoint(args.checkpoint)
        model, meta = model_from_state(state, args.checkpoint)
        pack = read_pack(args.val_pack)
        plain, flipped = (predict_pack(model, pack, meta, torch.device("cpu"), flip=flip) for flip in (False, True))
        truth = validation_joints(pack, meta.input_size)
        thresholds = calibration_thresholds(plain, flipped, truth, meta.skeleton_spec)
        if len(thresholds) < 2:
            raise InputError(f"{args.val_pack}: the model gets every joint right or every joint wrong on it, "
                             "so there is no threshold to measure")
        res = pck(plain, truth, meta.skeleton_spec)
        extra = {k: v for k, v in state.items() if k not in ("metadata", "state_dict")}
        save_checkpoint(args.out or args.checkpoint, model, meta.with_updates(calibration=thresholds), **extra)
        print(f"validation PCK@0.2 {res.overall:.4f}; joint_threshold {thresholds['joint_threshold']:.2f}, "
              f"with the flip test {thresholds[FLIP_THRESHOLD_KEY]:.2f} -> {args.out or args.checkpoint}")
        return 0

    return run_command("calibrate", body)
