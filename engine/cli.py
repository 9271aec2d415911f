"""The ``hgpose`` console script: dispatches ``hgpose COMMAND ...`` to each command's ``main(argv)``.

Commands are registered as entry points in the ``hgpose.commands`` group (see pyproject.toml), so
this module never imports ``app`` or ``train`` by name and the engine stays at the bottom of the DAG.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points

from engine import __version__

GROUP = "hgpose.commands"
ORDER = ("app", "annotate", "bench", "eval", "train", "prepare", "calibrate", "export", "build-engine")


def commands() -> dict[str, Callable[[Sequence[str] | None], int]]:
    """Installed commands by name, loaded lazily (each value imports its module when called)."""
    eps = {ep.name: ep for ep in entry_points(group=GROUP)}

    def loader(name: str) -> Callable[[Sequence[str] | None], int]:
        return lambda argv: eps[name].load()(argv)

    return {name: loader(name) for name in eps}


def usage(names: Sequence[str]) -> str:
    ordered = [n for n in ORDER if n in names] + sorted(set(names) - set(ORDER))
    return ("usage: hgpose COMMAND [ARGS...]\n\ncommands:\n  " + "\n  ".join(ordered)
            + "\n\nRun `hgpose COMMAND --help` for a command's options.")


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    table = commands()
    if not args or args[0] in ("-h", "--help"):
        print(usage(list(table)))
        return 0 if args else 2
    if args[0] == "--version":
        print(f"hgpose {__version__}")
        return 0
    name, rest = args[0], args[1:]
    if name not in table:
        print(f"hgpose: error: unknown command {name!r}\n\n{usage(list(table))}", file=sys.stderr)
        return 2
    return table[name](rest)


if __name__ == "__main__":
    sys.exit(main())
