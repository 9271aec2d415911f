"""Shared command-line plumbing: the one place typed errors become messages and exit codes."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

from engine.errors import HgposeError

EXIT_INTERRUPTED = 130


def run_command(name: str, body: Callable[[], int]) -> int:
    """Run a command body; a user error prints ``hgpose NAME: error: ...`` and returns its exit code."""
    try:
        return body()
    except HgposeError as exc:
        print(f"hgpose {name}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"hgpose {name}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def argv_or_default(argv: Sequence[str] | None) -> list[str]:
    return list(sys.argv[1:] if argv is None else argv)
