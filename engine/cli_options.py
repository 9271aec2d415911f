"""Command-line parsing shared by every ``hgpose`` command: one parser class and the option checks.

Every command builds its parser with :class:`CommandParser`, so a mistake on the command line (a
value out of range, an unknown option, a missing argument) is refused the same way everywhere:
one line, ``hgpose COMMAND: error: ...``, exit code 6 (configuration), before any work starts.
The value types below parse *and* check, so ``--threshold nan`` or ``--batch 0`` never reach
library code.
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from engine.errors import ConfigError
from engine.flip_modes import FLIP_MODES

# reStructuredText that docstrings use and a terminal should not show: ``literal``, :role:`target`.
_RST_ROLE = re.compile(r":[a-z]+:`~?([^`]+)`")
_RST_LITERAL = re.compile(r"``([^`]+)``")


def plain_text(doc: str | None) -> str:
    """A docstring as help text: reStructuredText literals and roles become plain words."""
    text = _RST_ROLE.sub(r"\1", doc or "")
    text = _RST_LITERAL.sub(r"\1", text)
    return text.replace("::\n", ":\n")


class CommandParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` with the project's conventions.

    The description is the command module's docstring as plain text (pass ``__doc__``), shown with
    its line breaks. A command-line mistake prints one line and exits with ConfigError's code (6)
    rather than argparse's usage block and code 2.
    """

    def __init__(self, prog: str, doc: str | None) -> None:
        super().__init__(prog=prog, description=plain_text(doc), formatter_class=argparse.RawDescriptionHelpFormatter)

    def error(self, message: str) -> NoReturn:
        self.exit(ConfigError.exit_code, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _number(text: str, kind: Callable[[str], float], what: str) -> float:
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
    return value


def fraction(text: str) -> float:
    """A finite number from 0 to 1 (a confidence, a share)."""
    value = _number(text, float, "a number from 0 to 1")
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be from 0 to 1, got {text}")
    return value


def positive_float(text: str) -> float:
    value = _number(text, float, "a positive number")
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def non_negative_float(text: str) -> float:
    value = _number(text, float, "a number of 0 or more")
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def int_at_least(low: int) -> Callable[[str], int]:
    """A type for whole numbers of at least ``low``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
        return value

    parse.__name__ = f"int_at_least_{low}"  # argparse names the type in some messages
    return parse


positive_int = int_at_least(1)


def _whole_numbers(text: str, minimum: int) -> list[int]:
    try:
        values = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated whole numbers, got {text!r}") from None
    if any(v < minimum for v in values):
        raise argparse.ArgumentTypeError(f"every value must be at least {minimum}, got {text}")
    return values


def int_list(text: str) -> list[int]:
    """Comma-separated positive whole numbers, e.g. ``1,8,64``."""
    return _whole_numbers(text, 1)


def frame_list(text: str) -> list[int]:
    """Comma-separated frame numbers (0 is the first), e.g. ``0,4,9``."""
    return _whole_numbers(text, 0)


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """``--model`` and ``--backend``, as every command that runs one model spells them."""
    parser.add_argument("--model", type=Path, help="model file (.onnx, .pt or .engine; default: the bundled model)")
    parser.add_argument("--backend", default="auto", help="auto, onnxruntime, onnxruntime-cuda, torch, torch-cuda, "
                                                        "tensorrt (default: auto)")


def joint_names(text: str) -> list[str]:
    """Comma-separated joint names, e.g. ``R knee,L knee`` (checked against a skeleton later)."""
    return [name.strip() for name in text.split(",") if name.strip()]


def add_judging_options(parser: argparse.ArgumentParser, threshold_default: str) -> None:
    """``--joints`` and ``--threshold`` of the commands that score keypoints against a reference
    (``compare``, ``track-eval``); ``threshold_default`` says where the default comes from."""
    parser.add_argument("--joints", type=joint_names,
                        help="comma-separated joint names to judge (default: shoulders, elbows, wrists, knees "
                             "and ankles)")
    parser.add_argument("--threshold", type=fraction, default=None,
                        help=f"drawing threshold (default: {threshold_default})")


def add_flip_option(parser: argparse.ArgumentParser, default: str, default_why: str) -> None:
    """``--flip``, ``--flip-unsure`` and ``--no-flip`` (one of them), into ``args.flip`` as a flip
    mode of :data:`engine.flip_modes.FLIP_MODES`; ``default_why`` says why this command defaults to
    ``default``. Three flags rather than ``--flip [MODE]``: a command that takes files would read
    ``--flip video.mp4`` as a mode."""
    assert default in FLIP_MODES
    flags = {"on": "--flip", "unsure": "--flip-unsure", "off": "--no-flip"}
    said = {"on": "average each pose with the mirrored crop's (the flip test: 2 reads a frame)",
            "unsure": "the flip test only where the plain read is unsure (not confident): most of its gain "
                      "for a fraction of its cost",
            "off": "no flip test (1 read a frame)"}
    group = parser.add_mutually_exclusive_group()
    for mode in FLIP_MODES:
        why = f" (default, {default_why})" if mode == default else ""
        group.add_argument(flags[mode], dest="flip", action="store_const", const=mode, help=said[mode] + why)
    parser.set_defaults(flip=default)


def add_zoom_option(parser: argparse.ArgumentParser, default: bool, default_why: str) -> None:
    """``--zoom-test`` and ``--no-zoom-test`` (one of them), into ``args.zoom_test``
    (:attr:`engine.pipeline.PipelineConfig.zoom_test`); ``default_why`` says why this command
    defaults to ``default``."""
    group = parser.add_mutually_exclusive_group()
    on = " (default, " + default_why + ")" if default else ""
    off = " (default, " + default_why + ")" if not default else ""
    group.add_argument("--zoom-test", dest="zoom_test", action="store_true",
                       help="read each pose crop again zoomed in and average the two for the joints' positions "
                            "(twice the pose crops; joints placed better, the same ones drawn)" + on)
    group.add_argument("--no-zoom-test", dest="zoom_test", action="store_false",
                       help="no zoomed second read of each pose crop (faster)" + off)
    parser.set_defaults(zoom_test=default)


def add_runtime_options(parser: argparse.ArgumentParser, spinning: str, precision: bool = True) -> None:
    """``--precision`` (unless ``precision`` is false) and ``--spinning``, with this command's measured
    ``spinning`` default (README, "Speed")."""
    if precision:
        parser.add_argument("--precision", choices=("auto", "fp32", "int8"), default="auto",
                            help="auto (default): on the CPU the INT8 file <stem>.int8.onnx when it exists, "
                                 "else FP32; fp32 or int8 to choose")
    parser.add_argument("--spinning", choices=("on", "off"), default=spinning,
                        help="ONNX Runtime CPU threads spin-wait between operators: faster on an idle machine, "
                             f"much slower when other work shares the cores (default here: {spinning})")


def spinning_flag(value: str) -> bool:
    return value == "on"
