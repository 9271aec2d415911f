"""Shared command-line plumbing: the one place typed errors become messages and exit codes."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

from engine.errors import HgposeError

EXIT_INTERRUPTED = 130


def run_command(name: str, body: Callable[[], int]) -> int:
    """Run a command body; a user error prints ``hgpose NAME: error: ...`` and returns its exit code.

    Ctrl-C (and SIGTERM, where a command maps it to KeyboardInterrupt) prints ``hgpose NAME:
    interrupted`` once, followed by the interrupt's own text if the body re-raised it with one
    (``raise KeyboardInterrupt("the frames so far are in out/x.json")``).
    """
    try:
        return body()
    except HgposeError as exc:
        print(f"hgpose {name}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt as exc:
        detail = f"; {exc}" if str(exc) else ""
        print(f"hgpose {name}: interrupted{detail}", file=sys.stderr)
        return EXIT_INTERRUPTED


def argv_or_default(argv: Sequence[str] | None) -> list[str]:
    return list(sys.argv[1:] if argv is None else argv)
