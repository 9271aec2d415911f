"""``hgpose prepare``: pack a dataset into compact train/validation files of person crops."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from engine.cli_support import argv_or_default, run_command
from train.datasets.lsp import load_lsp
from train.pack import PackSpec, write_pack


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hgpose prepare", description=__doc__)
    p.add_argument("--dataset", choices=["lspet", "lsp"], default="lspet")
    p.add_argument("--root", type=Path, required=True, help="dataset folder (images/ + joints.mat)")
    p.add_argument("--out-dir", type=Path, default=Path("data"))
    p.add_argument("--train", default="1:9000", help="1-based inclusive image range for training")
    p.add_argument("--val", default="9001:10000", help="1-based inclusive image range for validation")
    p.add_argument("--pack-size", type=int, default=PackSpec.pack_size)
    p.add_argument("--context", type=float, default=PackSpec.context)
    p.add_argument("--quality", type=int, default=PackSpec.jpeg_quality)
    return p


def _range(text: str) -> tuple[int, int]:
    a, _, b = text.partition(":")
    return int(a), int(b)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv_or_default(argv))

    def body() -> int:
        spec = PackSpec(args.pack_size, args.context, args.quality)
        for split, rng in (("train", args.train), ("val", args.val)):
            start, stop = _range(rng)
            samples = load_lsp(args.root, start, stop)
            out = write_pack(samples, args.out_dir / f"{args.dataset}-{split}.npz", spec, skeleton="lsp14",
                             source=f"{args.dataset} im{start:05d}-im{stop:05d}")
            print(f"{out}: {len(samples)} people, {out.stat().st_size / 1e6:.1f} MB")
        return 0

    return run_command("prepare", body)
