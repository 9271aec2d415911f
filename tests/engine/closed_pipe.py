"""Run ``python -m engine.cli ARGS`` with stdout a pipe whose reading end is already closed (as in
``hgpose ... | head -1`` once head has gone)."""

import os
import subprocess
import sys


def run_into_closed_pipe(args: list[str], unbuffered: bool = False) -> subprocess.CompletedProcess:
    read_end, write_end = os.pipe()
    os.close(read_end)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    if unbuffered:
        env["PYTHONUNBUFFERED"] = "1"
    try:
        return subprocess.run([sys.executable, "-m", "engine.cli", *args], stdout=write_end, stderr=subprocess.PIPE,
                              text=True, timeout=120, env=env)
    finally:
        os.close(write_end)
