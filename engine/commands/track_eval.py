"""``hgpose track-eval VIDEO REF.json``: tracking against a reference, over several runs of the clip.

One run of a clip (``hgpose annotate`` then ``hgpose compare``) is a chaotic measurement: a small
change anywhere moves what the tracker follows next. This runs the pipeline from several start
frames, with the flip test on and off (or only where unsure: ``--flip``) and the zoom test as
``annotate`` has it (``--no-zoom-test``), scores each run like
``hgpose compare`` (PCK@0.2 drawn and all, frames found, legs in the crop box, first frame found)
and prints mean, spread and extremes.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from engine.cli_options import (
    CommandParser,
    add_judging_options,
    add_model_options,
    add_runtime_options,
    add_zoom_option,
    frame_list,
    non_negative_float,
    spinning_flag,
)
from engine.cli_support import argv_or_default, run_command
from engine.commands.annotate import ANNOTATE_SPINNING

# --flip: the flip modes of the runs of each start (engine.flip_modes.FLIP_MODES).
RUN_FLIPS = {"both": ["on", "off"], "on": ["on"], "off": ["off"], "unsure": ["unsure"], "all": ["on", "unsure", "off"]}


def build_parser() -> argparse.ArgumentParser:
    p = CommandParser("hgpose track-eval", __doc__)
    p.add_argument("video", type=Path, metavar="VIDEO", help="the clip the reference describes")
    p.add_argument("reference", type=Path, metavar="REF.json", help="reference keypoints of that clip")
    add_model_options(p)
    p.add_argument("--starts", type=frame_list, default=[0, 4, 9, 15], metavar="N,N,...",
                   help="frames to start the runs at (default: 0,4,9,15)")
    p.add_argument("--flip", choices=tuple(RUN_FLIPS), default="both",
                   help="how the runs read pose crops: both (default: each start twice, flip test on and "
                        "off), on, off, unsure (the flip test only where the plain read is unsure, as the "
                        "app by default), or all (each start three times)")
    add_zoom_option(p, True, "as annotate runs")
    p.add_argument("--upright", type=non_negative_float, default=None, metavar="DEGREES",
                   help="as annotate --upright (default: 30; 0 turns it off)")
    add_judging_options(p, "the model's calibrated threshold, as annotate draws")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_runtime_options(p, spinning=ANNOTATE_SPINNING)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv_or_default(argv))

    def body() -> int:
        from engine.assets import default_model_path
        from engine.backends.registry import open_backend
        from engine.comparison import load_keypoints, select_joints
        from engine.pipeline import PipelineConfig
        from engine.roi import tracker_config
        from engine.tracking_eval import check_inputs, evaluate_tracking, format_evaluation

        reference = load_keypoints(args.reference)
        flips = RUN_FLIPS[args.flip]
        select_joints(reference.joints, args.joints)  # an unknown name fails here, not after the runs
        check_inputs(args.video, reference, args.starts, flips)  # before the model loads
        config = PipelineConfig(tracker=tracker_config(args.upright), zoom_test=args.zoom_test)
        with open_backend(args.model or default_model_path(), args.backend, precision=args.precision,
                          spinning=spinning_flag(args.spinning)) as backend:
            result = evaluate_tracking(backend, args.video, reference, args.starts, flips, config,
                                       progress=not args.quiet, joints=args.joints, threshold=args.threshold)
        print(json.dumps(result.as_dict(), indent=1) if args.json else format_evaluation(result))
        return 0

    return run_command("track-eval", body)
