"""The training loader: each epoch has its own augmentation, whatever the number of worker processes."""

from __future__ import annotations

from pathlib import Path

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
