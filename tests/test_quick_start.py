"""The README's quick start and CI agree: CI runs the README's test command verbatim."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _quick_start() -> list[str]:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    block = re.search(r"## Quick start.*?```bash\n(.*?)```", readme, re.S)
    assert block is not None
    return [line for line in block.group(1).splitlines() if line and not line.startswith("#")]


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    venv, sample, tests = _quick_start()
    assert venv.startswith("python3 -m venv ")
    assert sample.startswith("pip install -e . && hgpose annotate ")
    # The pinned CPU torch comes first, so the dev extra never pulls a CUDA build of its own.
    assert tests.startswith("pip install torch==2.13.0 && pip install -e \".[dev]\" && ")
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert tests in ci
