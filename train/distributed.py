"""DDP through ``torchrun``: process-group setup, samplers, metric reduction, rank-0 I/O."""

from __future__ import annotations

import os
from dataclasses import dataclass

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


def init() -> DistContext:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1); NCCL on CUDA, gloo on CPU."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistContext(False, 0, 1, torch.device("cpu"))
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        torch.cuda.set_device(local)
        backend, device = "nccl", torch.device("cuda", local)
    else:
        backend, device = "gloo", torch.device("cpu")
    if not td.is_initialized():
        td.init_process_group(backend=backend)
    return DistContext(True, rank, world, device)


def sampler(ds: Dataset, ctx: DistContext, seed: int) -> DistributedSampler | None:
    if not ctx.enabled:
        return None
    return DistributedSampler(ds, num_replicas=ctx.world_size, rank=ctx.rank, shuffle=True, seed=seed,
                              drop_last=True)


def wrap(model: nn.Module, ctx: DistContext) -> nn.Module:
    if not ctx.enabled:
        return model
    ids = [ctx.device.index] if ctx.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


def mean(value: float, ctx: DistContext) -> float:
    """Average a scalar over ranks (a no-op in a single process)."""
    if not ctx.enabled:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=ctx.device)
    td.all_reduce(t)
    return float(t.item()) / ctx.world_size


def barrier(ctx: DistContext) -> None:
    if ctx.enabled:
        td.barrier()


def cleanup(ctx: DistContext) -> None:
    if ctx.enabled and td.is_initialized():
        td.destroy_process_group()
