"""mypy over the TensorRT modules against tensorrt-stubs, exactly as CI runs it.

tensorrt-stubs 10.13 does not parse as shipped, so the check first writes the repaired copy
(.ci/repair_tensorrt_stubs.py) and points mypy at it through MYPYPATH.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# The modules that call TensorRT, the rest of the GPU path, and what they import from this repository.
GPU_MODULES = [
    "engine/gpu/tensorrt_build.py",
    "engine/gpu/tensorrt_support.py",
    "engine/gpu/engine_sidecar.py",
    "engine/commands/build_engine.py",
    "engine/gpu/tensorrt_backend.py",
    "engine/gpu/torch_cuda_backend.py",
    "engine/gpu/device_backend.py",
    "engine/gpu/device_estimate.py",
    "engine/gpu/cuda_graphs.py",
    "engine/gpu/ops.py",
]


def _stubs_installed() -> bool:
    try:
        importlib.metadata.distribution("tensorrt-stubs")
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("mypy") is None, reason="mypy is not installed")
@pytest.mark.skipif(not _stubs_installed(), reason="tensorrt-stubs is not installed")
def test_tensorrt_modules_type_check(tmp_path: Path) -> None:
    stubs = tmp_path / "typings"
    repair = subprocess.run([sys.executable, str(REPO / ".ci" / "repair_tensorrt_stubs.py"), "--out", str(stubs)],
                            capture_output=True, text=True, cwd=REPO)
    assert repair.returncode == 0, repair.stdout + repair.stderr
    env = {**os.environ, "MYPYPATH": str(stubs)}
    result = subprocess.run([sys.executable, "-m", "mypy", *GPU_MODULES], capture_output=True, text=True,
                            cwd=REPO, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success: no issues found" in result.stdout


@pytest.mark.skipif(not _stubs_installed(), reason="tensorrt-stubs is not installed")
def test_repair_changes_only_what_does_not_parse(tmp_path: Path) -> None:
    sys.path.insert(0, str(REPO / ".ci"))
    try:
        import repair_tensorrt_stubs as repair
    finally:
        sys.path.pop(0)
    assert repair.repair_def_line("    def f(self, in: list[int], out: int) -> None:\n") == \
        "    def f(self, in_: list[int], out: int) -> None:\n"
    assert repair.repair_def_line("    def g(self, a: int = 1, b: int) -> int:") == \
        "    def g(self, a: int = 1, b: int = ...) -> int:"
    fine = "    def h(self, name: str, shape: Dims) -> bool:\n"
    assert repair.repair_def_line(fine) == fine
    assert repair.write_repaired(tmp_path) > 0
    assert (tmp_path / "tensorrt_bindings" / "tensorrt.pyi").is_file()
