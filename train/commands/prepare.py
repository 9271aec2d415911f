"""``hgpose prepare``: pack a dataset into compact train/validation files of person crops.

Writes ``OUT/DATASET-train.npz`` and ``OUT/DATASET-val.npz``. LSP and LSPET are split by
image number; MPII and COCO take the validation people from ``--val-annotations``, else (MPII) from
the JSON's ``isValidation`` flags, else hold out the last ``--val-fraction`` of the images.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from engine.cli_options import CommandParser, fraction, int_at_least, positive_float, positive_int
from engine.cli_support import argv_or_default, run_command
from engine.errors import ConfigError, InputError
from train.datasets.base import PoseSample, hold_out
from train.datasets.mapping import convert_samples, joint_map
from train.pack import PackSpec, default_workers, write_pack
from train.teachers import CLEAN_MODES

# Native joint set of each dataset, and the usual (train, validation) image ranges of the LSP layouts.
NATIVE_SKELETON = {"lspet": "lsp14", "lsp": "lsp14", "mpii": "mpii16", "coco": "coco17"}
LSP_RANGES = {"lspet": ("1:9000", "9001:10000"), "lsp": ("1:1000", "1001:2000")}

Splits = tuple[list[PoseSample], list[PoseSample], str]


def _share(text: str) -> float:
    value = positive_float(text)
    if value >= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def _jpeg_quality(text: str) -> int:
    value = positive_int(text)
    if value > 100:
        raise argparse.ArgumentTypeError(f"must be from 1 to 100, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = CommandParser("hgpose prepare", __doc__)
    p.add_argument("--dataset", choices=sorted(NATIVE_SKELETON), default="lspet",
                   help="which dataset --root or --annotations hold (default: lspet)")
    lsp = p.add_argument_group("LSP / LSPET")
    lsp.add_argument("--root", type=Path, help="dataset folder (images/ + joints.mat)")
    lsp.add_argument("--train", help="1-based inclusive image range for training (lspet 1:9000, lsp 1:1000)")
    lsp.add_argument("--val", help="1-based inclusive image range for validation (lspet 9001:10000, lsp 1001:2000)")
    other = p.add_argument_group("MPII / COCO")
    other.add_argument("--annotations", type=Path,
                       help="MPII .mat or .json, or COCO person_keypoints_*.json")
    other.add_argument("--images", type=Path, help="folder of the images the annotations name")
    other.add_argument("--val-annotations", type=Path, help="annotations of the validation people")
    other.add_argument("--val-images", type=Path, help="images of --val-annotations (default: --images)")
    other.add_argument("--val-fraction", type=_share, default=0.1,
                       help="share of the images held out for validation when no validation set is given (0.1)")
    other.add_argument("--min-joints", type=positive_int, default=1,
                       help="COCO: skip people with fewer labelled joints (1)")
    p.add_argument("--skeleton", default="lsp14",
                   help="joint set of the packs: lsp14 (maps MPII/COCO joints, see train.datasets.mapping) "
                        "or 'native' (mpii16, coco17)")
    teach = p.add_argument_group("teachers (LSP / LSPET)")
    teach.add_argument("--teachers", type=Path,
                       help="teacher keypoints of the dataset's images (e.g. ../shared/teachers/lspet_teachers.npz): "
                            "cleans mirrored labels and packs MoveNet's keypoints as distillation targets "
                            "(training split only; validation stays as labelled)")
    teach.add_argument("--clean", choices=CLEAN_MODES, default="swap",
                       help="with --teachers: swap mirrored left/right labels back, drop those people, or off")
    teach.add_argument("--fix-joints", action="store_true",
                       help="with --teachers: also move single limb labels that both teachers contradict "
                            "(they agree within 0.1 torso; the label is over 0.2 off) onto their mean")
    teach.add_argument("--distill-min-score", type=fraction, default=0.3,
                       help="with --teachers: MoveNet score below which a keypoint is no target")
    p.add_argument("--out", type=Path, default=Path("data"), metavar="DIR",
                   help="folder for DATASET-train.npz and DATASET-val.npz (default: ./data)")
    p.add_argument("--out-dir", dest="out", type=Path, help=argparse.SUPPRESS)  # the former spelling
    p.add_argument("--pack-size", type=int_at_least(16), default=PackSpec.pack_size,
                   help=f"side of each square person crop in pixels ({PackSpec.pack_size}); at least the "
                        "model's input size")
    p.add_argument("--context", type=positive_float, default=PackSpec.context,
                   help=f"crop side as a multiple of the person's size ({PackSpec.context}), room for "
                        "augmentation")
    p.add_argument("--quality", type=_jpeg_quality, default=PackSpec.jpeg_quality,
                   help=f"JPEG quality of the stored crops, 1-100 ({PackSpec.jpeg_quality})")
    p.add_argument("--workers", type=positive_int, default=default_workers(),
                   help="encoding processes (default: one per CPU core, at most 4)")
    return p


def _require(value: Path | None, option: str, dataset: str) -> Path:
    if value is None:
        raise ConfigError(f"--dataset {dataset} needs {option}")
    if not value.exists():
        raise InputError(f"{option} {value} does not exist")
    return value


def _lsp_splits(args: argparse.Namespace) -> Splits:
    from train.datasets.lsp import load_lsp, parse_image_range

    root = _require(args.root, "--root", args.dataset)
    default_train, default_val = LSP_RANGES[args.dataset]
    (a, b), (c, d) = parse_image_range(args.train or default_train), parse_image_range(args.val or default_val)
    return load_lsp(root, a, b), load_lsp(root, c, d), f"{args.dataset} im{a:05d}-im{b:05d} / im{c:05d}-im{d:05d}"


def _annotated_splits(args: argparse.Namespace) -> Splits:
    from train.datasets.coco import load_coco
    from train.datasets.mpii import load_mpii

    def load(annotations: Path, images: Path, validation: bool | None = None) -> list[PoseSample]:
        if args.dataset == "coco":
            return load_coco(annotations, images, min_joints=args.min_joints)
        return load_mpii(annotations, images, validation)

    annotations = _require(args.annotations, "--annotations", args.dataset)
    images = _require(args.images, "--images", args.dataset)
    if args.val_annotations is not None:
        val_images = _require(args.val_images or images, "--val-images", args.dataset)
        val = load(_require(args.val_annotations, "--val-annotations", args.dataset), val_images)
        return load(annotations, images), val, f"{args.dataset} {annotations.name} / {args.val_annotations.name}"
    if args.dataset == "mpii" and annotations.suffix.lower() == ".json":
        try:
            train = load(annotations, images, validation=False)
            return train, load(annotations, images, validation=True), f"mpii {annotations.name} (isValidation)"
        except ConfigError:
            pass  # no flags in this file: hold images out instead
    train, val = hold_out(load(annotations, images), args.val_fraction)
    return train, val, f"{args.dataset} {annotations.name} (last {args.val_fraction:.0%} of images held out)"


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv_or_default(argv))

    def body() -> int:
        spec = PackSpec(args.pack_size, args.context, args.quality)
        native = NATIVE_SKELETON[args.dataset]
        target = native if args.skeleton == "native" else args.skeleton
        joint_map(native, target)  # an impossible mapping fails before any file is read
        if args.fix_joints and args.teachers is None:
            raise ConfigError("--fix-joints needs --teachers (the keypoints it moves labels onto)")
        if args.teachers is not None and args.dataset not in LSP_RANGES:
            raise ConfigError("--teachers is for LSP-layout datasets (lsp, lspet), whose images it names")
        teachers = None
        if args.teachers is not None:
            from train.teachers import load_teachers
            teachers = load_teachers(args.teachers)  # a bad file fails before any image is read
        train, val, source = _lsp_splits(args) if args.dataset in LSP_RANGES else _annotated_splits(args)
        extra: dict = {}
        if teachers is not None:
            from train.teachers import apply_teachers
            names = [s.image_path.name for s in train]
            train, found, moved = apply_teachers(train, teachers, args.clean, args.distill_min_score,
                                                 fix=args.fix_joints)
            mirrored = [n for n, bad in zip(names, found.people, strict=True) if bad]
            extra = {"teachers": args.teachers.name, "label_cleaning": args.clean, "mirrored": mirrored,
                     "distill_min_score": args.distill_min_score, "joints_fixed": moved if args.fix_joints else None}
            print(f"label cleaning ({args.clean}): {found.summary()}")
            if args.fix_joints:
                print(f"joint fixing: {moved} labels moved onto the teachers")
        for split, samples in (("train", train), ("val", val)):
            samples = convert_samples(samples, native, target)
            out = write_pack(samples, args.out / f"{args.dataset}-{split}.npz", spec, skeleton=target,
                             source=source, workers=args.workers, extra_info=extra if split == "train" else None)
            print(f"{out}: {len(samples)} people, {target}, {out.stat().st_size / 1e6:.1f} MB")
        return 0

    return run_command("prepare", body)
