"""The ``hgpose`` console script: dispatches ``hgpose COMMAND ...`` to each command's ``main(argv)``.

Commands are registered as entry points in the ``hgpose.commands`` group (see pyproject.toml), so
this module never imports ``app`` or ``train`` by name and the engine stays at the bottom of the DAG.
"""

from __future__ import annotations

import ast
import importlib.util
import re
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points
from pathlib import Path

from engine import __version__
from engine.cli_options import plain_text

GROUP = "hgpose.commands"
ORDER = ("app", "annotate", "bench", "compare", "track-eval", "eval", "train", "prepare", "calibrate", "export",
         "build-engine")


def command_modules() -> dict[str, str]:
    """Installed commands: name -> the module that holds its ``main``."""
    return {ep.name: ep.module for ep in entry_points(group=GROUP)}


def commands() -> dict[str, Callable[[Sequence[str] | None], int]]:
    """Installed commands by name, loaded lazily (each value imports its module when called)."""
    eps = {ep.name: ep for ep in entry_points(group=GROUP)}

    def loader(name: str) -> Callable[[Sequence[str] | None], int]:
        return lambda argv: eps[name].load()(argv)

    return {name: loader(name) for name in eps}


def summary(module: str) -> str:
    """A command's one-line description: the first sentence of its module's docstring.

    The docstring is read from the source, not imported, so ``hgpose --help`` loads neither torch
    nor Qt. By convention it starts with the command's usage in double backquotes, a colon, then
    what the command does; the usage is dropped (``hgpose --help`` shows the name).
    """
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        return ""
    doc = ast.get_docstring(ast.parse(Path(spec.origin).read_text(encoding="utf-8"))) or ""
    first = " ".join(doc.split("\n\n")[0].split())
    first = re.sub(r"^``hgpose [^`]*``:\s*", "", first)
    sentence = re.split(r"(?<=[.;:])\s", plain_text(first), maxsplit=1)[0].rstrip(".;:")
    return sentence[:1].upper() + sentence[1:]


def usage(table: dict[str, str]) -> str:
    """``hgpose --help``: every installed command with its one-line description (``table``: name -> module)."""
    ordered = [n for n in ORDER if n in table] + sorted(set(table) - set(ORDER))
    width = max(map(len, ordered), default=0)
    lines = [f"  {name:<{width}}  {summary(table[name])}".rstrip() for name in ordered]
    return ("usage: hgpose COMMAND [ARGS...]\n\ncommands:\n" + "\n".join(lines)
            + "\n\nRun `hgpose COMMAND --help` for a command's options.")


def main(argv: Sequence[str] | None = None) -> int:
    try:
        code = _dispatch(argv)
        sys.stdout.flush()  # output still buffered meets a reader that left here, not at exit
        return code
    except BrokenPipeError:  # `hgpose compare A B | head`, `hgpose --help | head`: quietly, exit 141
        from engine.cli_support import stdout_reader_left

        return stdout_reader_left()


def _dispatch(argv: Sequence[str] | None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    table = commands()
    if not args or args[0] in ("-h", "--help"):
        print(usage(command_modules()))
        return 0 if args else 2
    if args[0] == "--version":
        print(f"hgpose {__version__}")
        return 0
    name, rest = args[0], args[1:]
    if name not in table:
        print(f"hgpose: error: unknown command {name!r}; `hgpose --help` lists the commands", file=sys.stderr)
        return 2
    return table[name](rest)


if __name__ == "__main__":
    sys.exit(main())
