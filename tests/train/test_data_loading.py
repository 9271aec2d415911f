"""The training loader: each epoch has its own augmentation, whatever the number of worker processes."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader

from engine.metadata import Normalisation
from train.augment import AugmentConfig
from train.data import PackDataset
from train.distributed import DistContext, EpochSampler
from train.pack import read_pack


def epoch_inputs(pack_path: Path, workers: int, epochs: int = 2) -> list[torch.Tensor]:
    ds = PackDataset(read_pack(pack_path, progress=False), 64, 16, AugmentConfig(), Normalisation(), seed=3)
    sampler = EpochSampler(ds, DistContext(False, 0, 1, torch.device("cpu")), seed=3)
    loader = DataLoader(ds, batch_size=4, sampler=sampler, num_workers=workers, persistent_workers=workers > 0)
    out = []
    for epoch in range(epochs):
        ds.set_epoch(epoch)  # as the trainer does; reaches only the main process's copy
        sampler.set_epoch(epoch)
        out.append(torch.cat([x for x, *_ in loader]))
    return out


def test_persistent_workers_augment_each_epoch_afresh(packs) -> None:
    train_pack, _ = packs(4)
    in_process = epoch_inputs(train_pack, workers=0)
    with_workers = epoch_inputs(train_pack, workers=2)
    assert not torch.equal(with_workers[0], with_workers[1])  # epoch 1 is not a replay of epoch 0
    for a, b in zip(in_process, with_workers, strict=True):  # and workers change nothing
        assert torch.equal(a, b)


def test_training_on_several_packs(tmp_path: Path, packs) -> None:
    from train_synthetic import tiny_config

    from engine.errors import InputError
    from train.pack import concat_packs
    from train.trainer import train

    a, val = packs(4, seed=0)
    b, _ = packs(8, seed=1)
    both = concat_packs([read_pack(a), read_pack(b)], [str(a), str(b)])
    assert len(both) == 12 and both.images.shape[1:] == read_pack(a).images.shape[1:]
    assert both.names[:4] == read_pack(a).names

    steps: list[int] = []
    config = tiny_config(tmp_path / "run", a, val, data={"train_pack": str(a), "val_pack": str(val),
                                                           "more_train_packs": [str(b)]},
                         optim={"epochs": 1, "batch_size": 4})
    train(config, progress=False, on_step=lambda s, v: steps.append(s))
    assert steps == [1, 2, 3]  # 12 people, batch 4

    odd = dataclasses.replace(read_pack(b), info=dict(read_pack(b).info, pack_size=64))
    with pytest.raises(InputError, match="pack_size 64"):
        concat_packs([read_pack(a), odd], ["a.npz", "odd.npz"])
