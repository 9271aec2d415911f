"""DDP through ``torchrun``: process-group setup, samplers, metric reduction, rank-0 I/O.

Launch: ``torchrun --nproc_per_node=G [--nnodes=M --node_rank=R --rdzv_endpoint=HOST:PORT]
-m train.commands.train --config ...``. Every rank reads the packs and trains on its shard of each
epoch (:class:`EpochSampler`); the loss is averaged over ranks; rank 0 alone validates, logs and
writes checkpoints while the others wait at a barrier, and on resume it reads ``last.pt`` and sends
it to the others (no shared filesystem needed for the output directory).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as td
from torch import nn
from torch.utils.data import Dataset, DistributedSampler


@dataclass(frozen=True)
class DistContext:
    enabled: bool
    rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def is_main_process() -> bool:
    """True outside torchrun and on global rank 0: the process that prints and writes files."""
    return int(os.environ.get("RANK", "0")) == 0


def init(device: str = "auto") -> DistContext:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1).

    NCCL on CUDA (one GPU per local rank), gloo on the CPU or when ``device`` is ``"cpu"``.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistContext(False, 0, 1, torch.device("cpu"))
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available() and device != "cpu":
        torch.cuda.set_device(local)
        backend, dev = "nccl", torch.device("cuda", local)
    else:
        backend, dev = "gloo", torch.device("cpu")
    if not td.is_initialized():
        td.init_process_group(backend=backend)
    return DistContext(True, rank, world, dev)


class EpochSampler(DistributedSampler):
    """This rank's shard of a shuffled epoch, fixed by (seed, epoch), optionally started part-way.

    Used in single-process runs too (one replica), so the order is the same function of
    (seed, epoch) everywhere, and a mid-epoch resume starts at the next unseen sample instead of
    loading and throwing away the batches already done.
    """

    def __init__(self, ds: Dataset, ctx: DistContext, seed: int) -> None:
        super().__init__(ds, num_replicas=ctx.world_size, rank=ctx.rank, shuffle=True, seed=seed, drop_last=True)
        self.start = 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """Select the epoch's order; skip its first ``start`` samples (of this rank's shard)."""
        super().set_epoch(epoch)
        self.start = start

    def __iter__(self) -> Iterator[tuple[int, int]]:  # type: ignore[override]
        """(epoch, index) pairs: the epoch travels with each index, because loader worker processes
        hold their own copy of the dataset, which ``set_epoch`` in the main process never reaches
        (with persistent workers every epoch would otherwise repeat the first one's augmentation)."""
        epoch = self.epoch
        return ((epoch, i) for i in itertools.islice(super().__iter__(), self.start, None))

    def __len__(self) -> int:
        return self.num_samples - self.start


def wrap(model: nn.Module, ctx: DistContext) -> nn.Module:
    if not ctx.enabled:
        return model
    ids = [ctx.device.index] if ctx.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


def mean(value: float, ctx: DistContext) -> float:
    """Average a scalar over ranks (a no-op in a single process). Every rank must call it."""
    if not ctx.enabled:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=ctx.device)
    td.all_reduce(t)
    return float(t.item()) / ctx.world_size


def broadcast_object(obj: Any, ctx: DistContext) -> Any:
    """Rank 0's ``obj`` on every rank (pickled), e.g. the checkpoint to resume from, so that the
    other ranks need no shared filesystem. Every rank must call it."""
    if not ctx.enabled:
        return obj
    box = [obj if ctx.is_main else None]
    td.broadcast_object_list(box, src=0, device=ctx.device)
    return box[0]


def barrier(ctx: DistContext) -> None:
    if ctx.enabled:
        td.barrier()


def cleanup(ctx: DistContext) -> None:
    if ctx.enabled and td.is_initialized():
        td.destroy_process_group()
