"""Data-parallel training with torch.distributed (``torchrun --nproc_per_node=N -m sngan train ...``).

Every rank holds a full replica of critic and generator, draws its own contiguous share of each
global batch (data and noise), and gradients are averaged across ranks with an all-reduce before
each optimizer step — the arithmetic of DistributedDataParallel, done explicitly.

Why not the ``DistributedDataParallel`` wrapper: a WGAN-GP critic step runs the critic twice
(scores, then the penalty on interpolates) and backpropagates through a double-backward graph,
which DDP's reducer does not support (it expects one forward per backward and marks each parameter
ready once). And spectral normalization updates u, v in place in every training forward, which
collides with DDP's buffer broadcast (pytorch/pytorch#22095, #175024). Here nothing is broadcast
during training: all ranks start from the same seed and apply identical averaged updates, so their
weights *and* their SN buffers u, v stay bit-identical (tested).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from sngan.device import reproducible


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")  # where collectives' tensors live (NCCL: this rank's GPU)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_from_env(device: str = "cpu") -> DistInfo:
    """Join the process group that torchrun describes in the environment: NCCL with one GPU per process
    (``cuda:LOCAL_RANK``) when the run's device is CUDA, gloo on the CPU."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    cuda = str(device).startswith("cuda")
    if world <= 1:
        return DistInfo(device=torch.device(device))
    where = torch.device("cuda", local) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(reproducible(where))
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if cuda else "gloo")
    return DistInfo(dist.get_rank(), dist.get_world_size(), where)


def average_gradients(module: nn.Module, info: DistInfo) -> None:
    """All-reduce and average the gradients of ``module`` (one flat buffer: one collective)."""
    if not info.enabled:
        return
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    flat /= info.world_size
    offset = 0
    for g in grads:
        n = g.numel()
        g.copy_(flat[offset:offset + n].view_as(g))
        offset += n


def mean_across_ranks(values: list[float], info: DistInfo) -> list[float]:
    """Average a few scalars across ranks (for logging)."""
    if not info.enabled:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=info.device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return (t / info.world_size).tolist()


def any_rank(flag: bool, info: DistInfo) -> bool:
    """True on every rank if ``flag`` is true on any rank (a stop request reaches all ranks)."""
    if not info.enabled:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=info.device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def shutdown(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()
