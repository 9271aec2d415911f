"""Write a copy of the installed tensorrt-stubs that mypy can parse, for ``mypy_path``.

tensorrt-stubs 10.13 (generated from the pybind11 signatures) contains a few ``def`` lines that
are not valid Python: parameters named ``in`` (a keyword) and a required parameter after ones with
defaults. mypy stops at the first syntax error in any stub it follows, so without a repair every
TensorRT call would be unchecked. Only the ``def`` lines that fail to parse are changed (``in`` ->
``in_``, ``= ...`` added after the first default), and the module-level ``bool: DataType`` alias
(``trt.bool``) is dropped because it shadows ``builtins.bool`` in every ``-> bool`` of the stub.
Every other line is copied verbatim (line endings normalised to ``\n``).

Usage (CI)::

    python .ci/repair_tensorrt_stubs.py          # writes build/typings/{tensorrt,tensorrt_bindings}
    mypy engine/gpu/tensorrt_backend.py engine/gpu/tensorrt_build.py ...

pyproject.toml points ``[tool.mypy] mypy_path`` at build/typings, which mypy searches before
site-packages.
"""

from __future__ import annotations

import argparse
import ast
import keyword
import shutil
import sys
from importlib import metadata
from pathlib import Path

PACKAGES = ("tensorrt", "tensorrt_bindings")
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "build" / "typings"


def installed_stub_files() -> list[Path]:
    """The ``.pyi`` files of the installed tensorrt-stubs distribution, for the two packages."""
    try:
        files = metadata.files("tensorrt-stubs") or []
    except metadata.PackageNotFoundError:
        raise SystemExit("tensorrt-stubs is not installed: pip install --no-deps tensorrt-stubs") from None
    found = [Path(str(f.locate())) for f in files
             if f.parts[0] in PACKAGES and str(f).endswith(".pyi")]
    if not found:
        raise SystemExit("tensorrt-stubs is installed but has no tensorrt/*.pyi files")
    return found


def _split_params(text: str) -> list[str]:
    """Split a parameter list at top-level commas (brackets may nest in annotations)."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def _repair_param(param: str, after_default: bool) -> tuple[str, bool]:
    name, sep, rest = param.partition(":")
    bare = name.strip()
    if keyword.iskeyword(bare):
        name = name.replace(bare, bare + "_")
    fixed = name + sep + rest
    if bare.startswith("*"):
        return fixed, after_default
    if "=" in rest or ("=" in name and not sep):
        return fixed, True
    if after_default:
        return fixed + " = ...", True
    return fixed, False


def repair_def_line(line: str) -> str:
    """Repair one ``def name(params) -> ret:`` line; unchanged if it already parses or is not a def."""
    stripped = line.strip()
    if not stripped.startswith("def ") or _parses(stripped):
        return line
    open_at, close_at = stripped.index("("), stripped.rindex(")")
    params, after_default = [], False
    for p in _split_params(stripped[open_at + 1:close_at]):
        fixed, after_default = _repair_param(p, after_default)
        params.append(fixed)
    indent = line[: len(line) - len(line.lstrip())]
    repaired = f"{stripped[:open_at + 1]}{', '.join(params)}{stripped[close_at:]}"
    if not _parses(repaired):
        raise ValueError(f"cannot repair stub line: {stripped}")
    return indent + repaired + ("\n" if line.endswith("\n") else "")


def _parses(def_line: str) -> bool:
    try:
        ast.parse(def_line + (" ..." if def_line.endswith(":") else ""))
    except SyntaxError:
        return False
    return True


def _is_bool_alias(line: str) -> bool:
    """The module-level ``bool: DataType`` (``trt.bool``), which shadows ``builtins.bool`` in every
    annotation of the stub and turns each ``-> bool`` into an invalid type."""
    return line.startswith("bool:") and "DataType" in line


def repair_text(text: str) -> tuple[str, int]:
    """Return the repaired stub text and how many lines changed; the result must parse as a whole."""
    lines = text.splitlines(keepends=True)
    out = ["" if _is_bool_alias(line) else repair_def_line(line) for line in lines]
    changed = sum(a != b for a, b in zip(lines, out, strict=True))
    ast.parse("".join(out))  # raises SyntaxError if anything is left unparsable
    return "".join(out), changed


def write_repaired(out_dir: Path) -> int:
    """Write repaired copies of the installed stubs under ``out_dir``; returns lines changed."""
    total = 0
    for src in installed_stub_files():
        package_root = next(p for p in src.parents if p.name in PACKAGES)
        dest = out_dir / src.relative_to(package_root.parent)
        dest.parent.mkdir(parents=True, exist_ok=True)
        text, changed = repair_text(src.read_text(encoding="utf-8"))
        dest.write_text(text, encoding="utf-8")
        total += changed
    return total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: build/typings)")
    args = parser.parse_args(argv)
    for name in PACKAGES:
        shutil.rmtree(args.out / name, ignore_errors=True)
    changed = write_repaired(args.out)
    print(f"tensorrt stubs {metadata.version('tensorrt-stubs')} written to {args.out} ({changed} lines repaired)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
