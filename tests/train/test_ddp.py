"""A 2-process DDP run on the CPU (gloo) through torchrun and the real ``hgpose train`` entry point,
stopped mid-epoch by a step budget and by a time budget, and resumed."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
from train_synthetic import write_tiny_toml

from engine.checkpoint import load_checkpoint, read_checkpoint
from train.trainer import TIME_CHECK_EVERY


@pytest.mark.slow
def test_torchrun_two_processes(tmp_path: Path, packs) -> None:
    train_pack, val_pack = packs(8)
    # With weight averaging, which rank 0 alone keeps (every rank holds the same weights).
    config = write_tiny_toml(tmp_path / "ddp.toml", train_pack, val_pack, extra="ema_decay = 0.9", optim="epochs = 8")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
              "-m", "train.commands.train", "--config", str(config), "--quiet"]
    # Stop after one step (mid-epoch), then resume: rank 0 reads last.pt and sends it to rank 1.
    first = subprocess.run([*launch, "--set", "max_steps=1"], capture_output=True, text=True, env=env,
                           timeout=240, check=False)
    assert first.returncode == 0, first.stderr[-3000:]
    # A time budget already spent: rank 0 decides at the first check (TIME_CHECK_EVERY steps) and
    # tells rank 1, so both stop at the same step instead of one hanging in the all-reduce.
    second = subprocess.run([*launch, "--set", "max_minutes=1e-9"], capture_output=True, text=True, env=env,
                            timeout=240, check=False)
    assert second.returncode == 0, second.stderr[-3000:]
    assert read_checkpoint(tmp_path / "run" / "last.pt")["step"] == 1 + TIME_CHECK_EVERY
    proc = subprocess.run(launch, capture_output=True, text=True, env=env, timeout=240, check=False)

    assert proc.returncode == 0, proc.stderr[-3000:]
    # Rank 0 alone prints and writes.
    assert proc.stdout.count("best checkpoint:") == 1, proc.stdout
    last = read_checkpoint(tmp_path / "run" / "last.pt")
    # 8 people sharded over 2 ranks, batch 2: 2 steps an epoch (a single process would take 4).
    assert (last["epoch"], last["step"]) == (8, 16)
    with open(tmp_path / "run" / "log.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["step"]) for r in rows] == [1, 2, 4, 6, 8, 10, 11, 12, 14, 16]
    # Validated at each epoch's end, not after the partial epochs.
    assert [r["val_pck"] != "" for r in rows] == [int(r["step"]) % 2 == 0 for r in rows]
    assert [r["val_pck_raw"] != "" for r in rows] == [int(r["step"]) % 2 == 0 for r in rows]
    assert last["weight_average"]["updates"] == 16  # carried across both stops
    _, meta = load_checkpoint(tmp_path / "run" / "best.pt")  # plain weights: no DDP "module." prefix
    assert 0.0 <= meta.metrics["val_pck@0.2"] <= 1.0
