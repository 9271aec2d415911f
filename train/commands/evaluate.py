"""``hgpose eval``: PCK@0.2 of a model on an LSP-layout dataset or a validation pack.

The dataset is a folder of images/imNNNNN.jpg and joints.mat (LSP, LSPET). Runs the model through
the same backends as ``annotate`` and the app (ONNX Runtime, torch, TensorRT), cropping each person
from its ground-truth box. Prints the per-joint table, then ``mirrored`` (the share of people
predicted with left and right swapped), ``PCK@0.2-limbs VALUE`` (12 limb joints) and, as the last
line, ``PCK@0.2 VALUE`` (all 14 joints); values are fractions in [0, 1].
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from engine.cli_options import (
    CommandParser,
    add_model_options,
    add_runtime_options,
    fraction,
    positive_int,
    spinning_flag,
)
from engine.cli_support import argv_or_default, run_command
from engine.errors import ConfigError, InputError


def pck_distance(text: str) -> float:
    """PCK's distance, a fraction of the torso above 0 and at most 1 (at 0 no joint is ever correct)."""
    value = fraction(text)
    if value <= 0.0:
        raise argparse.ArgumentTypeError(f"must be above 0 and at most 1, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = CommandParser("hgpose eval", __doc__)
    p.add_argument("--dataset", choices=["lsp"], default="lsp", help="dataset layout (LSP and LSPET: lsp)")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--root", type=Path, help="dataset folder (images/ + joints.mat)")
    where.add_argument("--pack", type=Path,
                       help="a validation pack from `hgpose prepare` instead (59 MB for LSPET, so it travels "
                            "to a GPU machine; its crops are resampled, so PCK differs a little from --root)")
    p.add_argument("--range", dest="image_range", metavar="START:STOP",
                   help="1-based inclusive image numbers, e.g. 9001:10000 for the LSPET validation split "
                        "(default: all)")
    add_model_options(p)
    p.add_argument("--flip", action="store_true", help="flip test: average with the mirrored crop")
    p.add_argument("--zoom-test", action="store_true",
                   help="zoom test: average the positions' heatmaps with a crop zoomed in to 0.85 of the side, as "
                        "annotate reads a tracked person")
    p.add_argument("--batch", type=positive_int, default=32, metavar="N", help="crops per backend call (32)")
    p.add_argument("--pck-threshold", type=pck_distance, default=0.2, metavar="FRACTION",
                   help="a joint is correct within this fraction of the torso size (0.2: PCK@0.2)")
    # The former spellings, still accepted: --threshold is a joint confidence in annotate and app.
    p.add_argument("--batch-size", dest="batch", type=positive_int, help=argparse.SUPPRESS)
    p.add_argument("--threshold", dest="pck_threshold", type=fraction, help=argparse.SUPPRESS)
    p.add_argument("--clean-labels", type=Path, metavar="TEACHERS",
                   help="with --root: score against labels cleaned with this teacher file (mirrored left/right "
                        "labels swapped back, as `hgpose prepare --teachers` does for training)")
    p.add_argument("--teachers", type=Path, metavar="TEACHERS",
                   help="with --root: also break the mirrored share down by which way people face, where "
                        "this teacher file's two models agree (front, back, unclear)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_runtime_options(p, spinning="off")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv_or_default(argv))

    def body() -> int:
        from engine.assets import default_model_path
        from engine.backends.registry import open_backend
        from engine.metadata import check_compatible
        from engine.skeleton import LSP14
        from train.datasets.lsp import load_lsp, parse_image_range
        from train.evaluation import predict_pack_crops, predict_samples
        from train.facing import BACK, FRONT, UNCLEAR, agreed_facing
        from train.metrics import mirrored_people, pck, sides_oracle
        from train.pack import read_pack

        if args.pack is not None and args.image_range:
            raise ConfigError("--range applies to --root; a pack holds its own split")
        for option, value in (("--clean-labels", args.clean_labels), ("--teachers", args.teachers)):
            if args.pack is not None and value is not None:
                raise ConfigError(f"{option} applies to --root (it matches teachers to image names)")
        # The data is checked before the model is loaded: a typo in --root or --pack fails fast.
        facings: np.ndarray | None = None  # with --teachers: FRONT, BACK or UNCLEAR per person
        if args.pack is not None:
            pack = read_pack(args.pack, progress=not args.quiet)
            if pack.info.get("skeleton") != LSP14.name:
                raise InputError(f"{args.pack} holds {pack.info.get('skeleton')} joints; eval measures {LSP14.name}")
            source, truth = args.pack, pack.joints
        else:
            start, stop = parse_image_range(args.image_range) if args.image_range else (1, None)
            samples = load_lsp(args.root, start, stop)  # checks the folder, its joints.mat and the range
            if not samples:
                raise InputError(f"{args.root}: no annotated people in images {start}..{stop or 'end'}")
            source, truth = args.root, np.stack([s.joints for s in samples])
            names = [s.image_path.name for s in samples]
            from train.teachers import load_teachers  # both teacher options match by image name

            if args.clean_labels is not None:
                from train.label_cleaning import find_mirrored, swap_mirrored

                teachers = load_teachers(args.clean_labels).select(names)
                found = find_mirrored(truth, teachers.movenet, teachers.blazepose)
                truth = swap_mirrored(truth, found)
                print(f"cleaned labels: {found.summary()}", file=sys.stderr)
            if args.teachers is not None:
                seen = load_teachers(args.teachers).select(names)
                facings = agreed_facing(truth, seen.movenet, seen.blazepose)
        with open_backend(args.model or default_model_path(), args.backend, precision=args.precision,
                          spinning=spinning_flag(args.spinning)) as backend:
            check_compatible(backend.metadata, skeleton=LSP14.name)
            print(f"hgpose eval: {backend.describe()}", file=sys.stderr)
            if args.pack is not None:
                preds = predict_pack_crops(backend, pack, flip=args.flip, zoom_test=args.zoom_test,
                                           batch_size=args.batch, progress=not args.quiet)
            else:
                preds = predict_samples(backend, samples, flip=args.flip, zoom_test=args.zoom_test,
                                        batch_size=args.batch, progress=not args.quiet)
        res = pck(preds, truth, LSP14, threshold=args.pck_threshold)
        t = f"{args.pck_threshold:g}"
        tests = " and ".join(t for t, on in (("flip test", args.flip), ("zoom test", args.zoom_test)) if on)
        print(f"{len(truth)} people from {source}{f' ({tests})' if tests else ''}")
        print(f"{'joint':<12} PCK@{t}  labelled")
        for name, value, count in zip(LSP14.joints, res.per_joint, res.counts, strict=True):
            print(f"{name:<12} {value:.4f}  {count}")
        oracle = sides_oracle(preds, truth, LSP14, threshold=args.pck_threshold)
        print(f"left/right oracle: PCK@{t} {oracle.overall:.4f}, limbs {oracle.limbs:.4f} (each person's arms and "
              "legs labelled the right way round: what left/right confusions cost)")
        mirror = mirrored_people(preds, truth, LSP14)
        print(f"mirrored {mirror.share:.4f} ({mirror.mirrored} of {mirror.eligible} people whose left and right "
              "are apart)")
        if facings is not None:
            parts = []
            for name, value in (("front", FRONT), ("back", BACK), ("unclear", UNCLEAR)):
                m = mirrored_people(preds[facings == value], truth[facings == value], LSP14)
                parts.append(f"{name} {m.share:.4f} ({m.mirrored} of {m.eligible})")
            print(f"mirrored by facing (both teachers agree): {', '.join(parts)}")
        print(f"PCK@{t}-limbs {res.limbs:.4f}")
        print(f"PCK@{t} {res.overall:.4f}")
        return 0

    return run_command("eval", body)


if __name__ == "__main__":
    sys.exit(main())
