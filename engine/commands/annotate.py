"""``hgpose annotate INPUT... --out DIR``: pose keypoints for videos, image folders or images."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from engine.cli_options import (
    CommandParser,
    add_flip_option,
    add_model_options,
    add_runtime_options,
    add_zoom_option,
    fraction,
    non_negative_float,
    positive_int,
    spinning_flag,
)
from engine.cli_support import argv_or_default, run_command
from engine.errors import InputError

GPU_BACKENDS = ("tensorrt", "torch-cuda", "onnxruntime-cuda")
ANNOTATE_SPINNING = "off"


def build_parser() -> argparse.ArgumentParser:
    p = CommandParser("hgpose annotate", __doc__)
    p.add_argument("inputs", nargs="*", type=Path, metavar="INPUT",
                   help="video files, image folders or images (default: the bundled clip)")
    p.add_argument("--out", type=Path, default=Path("out"), metavar="DIR", help="output directory (default: ./out)")
    p.add_argument("--render", action="store_true", help="also write <stem>.mp4 with the skeleton overlay")
    add_model_options(p)
    # On by default: offline annotation wants the better pose (+0.01 PCK@0.2 on LSPET) more than the
    # speed (one more crop a frame; the person search is not flipped).
    add_flip_option(p, "on", "offline annotation wants the better pose")
    add_zoom_option(p, True, "offline annotation wants the better-placed joints")
    p.add_argument("--no-smooth", action="store_true",
                   help="write the keypoints and their scores unsmoothed (on videos both are smoothed by default; "
                        "the crop follows a smoothed pose either way)")
    p.add_argument("--threshold", type=fraction, default=None, metavar="CONFIDENCE",
                   help="joint confidence (0-1) below which joints are not drawn and angles are empty "
                        "(default: the model's calibrated threshold, for the flip test's setting)")
    p.add_argument("--upright", type=non_negative_float, default=None, metavar="DEGREES",
                   help="turn the crop of a person whose torso leans DEGREES or more towards upright "
                        "(by at most 30 degrees), for runners bending forward, gymnastics and falls "
                        "(default: 30; 0 turns it off). The JSON "
                        "box stays the unturned square, and a turned crop may reach past the frame's edges")
    p.add_argument("--batch", type=positive_int, default=None, metavar="N",
                   help="frames per backend call while tracking (default: 16 on GPU backends, 1 on the CPU)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_runtime_options(p, spinning=ANNOTATE_SPINNING)
    return p


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv_or_default(argv))

    def body() -> int:
        from engine.assets import default_clip_path
        from engine.atomic import prepared_output_dir
        from engine.sources import open_source
        from engine.video_writer import MIN_SIDE

        inputs = args.inputs or [default_clip_path()]
        stems = [p.stem if p.suffix else p.name for p in inputs]
        dupes = sorted({s for s in stems if stems.count(s) > 1})
        if dupes:
            raise InputError(f"inputs share the output name(s) {', '.join(dupes)}; annotate them into "
                             "separate --out directories")
        # Validate everything before the first output is written: no partial garbage. Each input
        # is closed again at once and reopened in its turn, so a long list holds one decoder at a time.
        for path in inputs:
            with open_source(path) as source:
                w, h = source.info.width, source.info.height
            if args.render and min(w, h) < MIN_SIDE:
                raise InputError(f"{path} is {w}x{h} pixels: too small to render a video (--render needs at "
                                 f"least {MIN_SIDE}x{MIN_SIDE})")
        _check_outputs(inputs, stems, args.out, args.render)
        with prepared_output_dir(args.out) as out_dir:  # removed again if a failure leaves it empty
            return _annotate_inputs(args, inputs, stems, out_dir)

    return run_command("annotate", body)


def _check_outputs(inputs: list[Path], stems: list[str], out: Path, render: bool) -> None:
    """Refuse, before any work, outputs that would overwrite an input (``--out`` the video's own
    folder with ``--render``) or could not be written (a folder in the way), and an ``--out`` that
    names an output file rather than the folder (it would become a folder of that name)."""
    from engine.atomic import check_output_file

    suffixes = (".json", ".csv", ".mp4") if render else (".json", ".csv")
    if out.suffix.lower() in (".json", ".csv", ".mp4") and not out.is_dir():
        raise InputError(f"--out {out} names a file, but it is the folder the outputs go into "
                         "(<stem>.json, .csv and, with --render, .mp4)")
    targets = [out / f"{stem}{suffix}" for stem in stems for suffix in suffixes]
    for target in targets:
        clash = next((p for p in inputs if target.exists() and os.path.samefile(p, target)), None)
        if clash is not None:
            raise InputError(f"{target} would overwrite the input {clash}; give another --out directory")
        check_output_file(target)


def _annotate_inputs(args: argparse.Namespace, inputs: list[Path], stems: list[str], out_dir: Path) -> int:
    from engine.annotate import AnnotateOptions, annotate_source
    from engine.assets import default_model_path
    from engine.backends.registry import open_backend
    from engine.pipeline import PipelineConfig
    from engine.roi import tracker_config
    from engine.smoothing import OneEuroConfig
    from engine.sources import open_source

    backend = open_backend(args.model or default_model_path(), args.backend, precision=args.precision,
                           spinning=spinning_flag(args.spinning))
    batch = args.batch or (16 if backend.name in GPU_BACKENDS else 1)
    pipeline = PipelineConfig(smoothing=OneEuroConfig(enabled=not args.no_smooth),
                              tracker=tracker_config(args.upright), zoom_test=args.zoom_test).with_flip(args.flip)
    threshold = backend.metadata.threshold_for(pipeline.flip_test) if args.threshold is None else args.threshold
    options = AnnotateOptions(render=args.render, batch=batch, draw_threshold=threshold,
                              progress=not args.quiet, pipeline=pipeline)
    print(f"hgpose annotate: {backend.describe()}", file=sys.stderr)
    # SIGTERM gets the same clean partial write as Ctrl-C, for this run only: the previous handler
    # comes back after it, so a caller in the same process (a test runner) keeps its own.
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        for path, stem in zip(inputs, stems, strict=True):
            with open_source(path) as source:
                try:
                    s = annotate_source(source, backend, out_dir, stem, options)
                except KeyboardInterrupt as exc:  # annotate_source names where the frames went
                    raise KeyboardInterrupt(str(exc) or f"the frames so far are in {out_dir / stem}.json") from None
            for item in source.info.skipped:
                print(f"hgpose annotate: skipped {item['file']} ({item['reason']})", file=sys.stderr)
            if s.truncated:
                print(f"hgpose annotate: warning: {source.info.path} decoded {s.frames} of the {s.expected} frames "
                      "its container reports (a cut or damaged file); the JSON says \"truncated\": true",
                      file=sys.stderr)
            outputs = ", ".join(str(p) for p in (s.json_path, s.csv_path, s.video_path) if p)
            print(f"{source.info.path}: {s.frames} frames at {s.fps:.1f} FPS -> {outputs}")
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0
