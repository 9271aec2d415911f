"""``hgpose train``: train a Stacked Hourglass from packed data (resumes from ``out_dir/last.pt``).

Multi-GPU / multi-node: ``torchrun --nproc_per_node=G -m train.commands.train --config ...``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from engine.cli_options import CommandParser
from engine.cli_support import argv_or_default, run_command


def build_parser() -> argparse.ArgumentParser:
    p = CommandParser("hgpose train", __doc__)
    p.add_argument("--config", type=Path, help="TOML file (see train/configs/)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set optim.lr=5e-4 (repeatable)")
    p.add_argument("--no-resume", action="store_true", help="start afresh even if last.pt exists")
    p.add_argument("--quiet", action="store_true", help="no progress bars or per-epoch lines")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv_or_default(argv))

    def body() -> int:
        from train.config import load_config
        from train.distributed import is_main_process
        from train.trainer import train

        config = load_config(args.config, args.overrides)
        best = train(config, resume=not args.no_resume, progress=not args.quiet)
        if is_main_process():
            print(f"best checkpoint: {best}")
        return 0

    return run_command("train", body)


if __name__ == "__main__":  # torchrun -m train.commands.train ...
    sys.exit(main())
