"""Weight averaging (``ema_decay``): the update rule, and a training run that keeps the average,
logs the raw weights beside it and resumes it exactly."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
from torch import nn
from train_synthetic import tiny_config

from engine.checkpoint import load_checkpoint, read_checkpoint
from engine.errors import ConfigError
from train.trainer import train
from train.weight_average import WeightAverage


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2))


def test_update_moves_the_average_by_the_ramped_decay() -> None:
    net = _net()
    start = {k: v.clone() for k, v in net.state_dict().items()}
    average = WeightAverage(net, decay=0.99)
    assert average.current_decay() == pytest.approx(0.1)  # (1 + 0) / (10 + 0)

    with torch.no_grad():  # a "training step": new weights and running statistics
        for p in net.parameters():
            p.add_(1.0)
        net[1].running_mean.fill_(2.0)  # type: ignore[union-attr]
        net[1].num_batches_tracked.fill_(7)  # type: ignore[union-attr]
    average.update(net)

    got = average.model.state_dict()
    now = net.state_dict()
    for key in ("0.weight", "0.bias", "1.weight", "1.running_mean"):
        assert torch.allclose(got[key], 0.1 * start[key] + 0.9 * now[key]), key
    assert int(got["1.num_batches_tracked"]) == 7  # a count: copied, not averaged
    assert average.current_decay() == pytest.approx(2 / 11)
    average.updates = 10_000
    assert average.current_decay() == 0.99  # the ramp ends at the configured decay
    assert all(not p.requires_grad for p in average.model.parameters())


def test_state_round_trips() -> None:
    net = _net()
    average = WeightAverage(net, decay=0.9)
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(3.0)
    average.update(net)
    copy = WeightAverage(_net(), decay=0.9)
    copy.load_state_dict(average.state_dict())
    assert copy.updates == 1
    for key, value in average.model.state_dict().items():
        assert torch.equal(value, copy.model.state_dict()[key]), key


def test_bad_decay_is_a_config_error(tmp_path: Path, packs) -> None:
    train_pack, val_pack = packs(4)
    for bad in (-0.1, 1.0):
        with pytest.raises(ConfigError, match="ema_decay"):
            tiny_config(tmp_path / "run", train_pack, val_pack, ema_decay=bad)


def test_training_keeps_the_average_and_resumes_it_exactly(tmp_path: Path, packs) -> None:
    train_pack, val_pack = packs(8)
    # 8 people, batch 2: 4 steps an epoch, 2 epochs, augmentation on.
    common = {"ema_decay": 0.9, "optim": {"epochs": 2, "batch_size": 2}}
    train(tiny_config(tmp_path / "a", train_pack, val_pack, **common), progress=False)
    for max_steps in (3, 2, 0):  # stopped mid-epoch, then across the epoch boundary, then to the end
        train(tiny_config(tmp_path / "b", train_pack, val_pack, max_steps=max_steps, **common), progress=False)

    a = read_checkpoint(tmp_path / "a" / "last.pt")
    b = read_checkpoint(tmp_path / "b" / "last.pt")
    assert a["weight_average"]["updates"] == b["weight_average"]["updates"] == 8
    for key, value in a["weight_average"]["weights"].items():
        assert torch.equal(value, b["weight_average"]["weights"][key]), key

    # The log shows the raw weights' figures beside the average's.
    with open(tmp_path / "a" / "log.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 2 and all(r["val_pck_raw"] != "" and r["val_pck_limbs_raw"] != "" for r in rows)


def test_without_averaging_the_log_has_no_raw_columns(tmp_path: Path, packs) -> None:
    train_pack, val_pack = packs(4)
    train(tiny_config(tmp_path / "run", train_pack, val_pack), progress=False)
    assert read_checkpoint(tmp_path / "run" / "last.pt")["weight_average"] is None
    header = (tmp_path / "run" / "log.csv").read_text().splitlines()[0]
    assert header == "epoch,step,loss,lr,seconds,val_pck,val_pck_limbs"


def test_best_checkpoint_holds_the_average_not_the_raw_weights(tmp_path: Path, packs) -> None:
    train_pack, val_pack = packs(4)
    # One epoch, one validation: best.pt is saved from the average as it stands at the end.
    train(tiny_config(tmp_path / "run", train_pack, val_pack, ema_decay=0.9), progress=False)
    last = read_checkpoint(tmp_path / "run" / "last.pt")
    best, meta = load_checkpoint(tmp_path / "run" / "best.pt")
    for key, value in best.state_dict().items():
        assert torch.equal(value, last["weight_average"]["weights"][key]), key
    assert not torch.equal(best.state_dict()["heads.0.weight"], last["state_dict"]["heads.0.weight"])
    assert meta.metrics["val_pck@0.2"] == last["history"][-1]["val_pck"]
    assert meta.training["config"]["ema_decay"] == 0.9
