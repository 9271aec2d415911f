"""``hgpose compare PRED.json REF.json``: score keypoints against a reference of the same source.

PCK@0.2 (torso from the reference) per joint and overall, frames found, joints drawn, the first frame
found, the share of the reference's knees and ankles inside the prediction's crop box, the share of
drawn joints that are right, and the score threshold that would best separate right joints from
wrong ones on this footage. Both files are ``hgpose.annotations/1`` (``hgpose annotate`` output, app
recordings or hand labels).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from engine.cli_options import CommandParser, add_judging_options
from engine.cli_support import argv_or_default, run_command


def build_parser() -> argparse.ArgumentParser:
    p = CommandParser("hgpose compare", __doc__)
    p.add_argument("prediction", type=Path, metavar="PRED.json", help="the keypoints to judge")
    p.add_argument("reference", type=Path, metavar="REF.json",
                   help="the reference (null joints and null frames allowed)")
    add_judging_options(p, "the prediction's angle_min_confidence")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv_or_default(argv))

    def body() -> int:
        from engine.comparison import compare, format_report, load_keypoints

        result = compare(load_keypoints(args.prediction), load_keypoints(args.reference), args.joints, args.threshold)
        print(json.dumps(result.as_dict(), indent=1) if args.json else format_report(result))
        return 0

    return run_command("compare", body)
