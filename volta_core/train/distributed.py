"""Distributed data-parallel setup from ``torchrun`` environment variables.

``torchrun --nproc_per_node 2 -m volta_core.cli pretrain ...`` sets ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``; without them everything runs as a single
process (rank 0 of 1). Backend: NCCL on CUDA, gloo otherwise. Only rank 0 writes checkpoints,
logs and events; every rank meets at a barrier at the end.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DistributedSampler


@dataclass(frozen=True)
class DistInfo:
    """This process's place in the job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def env_dist_info() -> DistInfo:
    """Rank/world size from the torchrun environment (single process when absent)."""
    return DistInfo(rank=int(os.environ.get("RANK", 0)), world_size=int(os.environ.get("WORLD_SIZE", 1)),
                    local_rank=int(os.environ.get("LOCAL_RANK", 0)))


def init_distributed(device: torch.device) -> DistInfo:
    """Join the process group when launched by torchrun (idempotent)."""
    info = env_dist_info()
    if info.enabled and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend=backend)
    return info


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def threads_per_rank(world_size: int, requested: int = 0) -> int:
    """Intra-op threads: ``requested`` or cores // world_size (never oversubscribe the CPU)."""
    if requested > 0:
        return requested
    return max(1, available_cores() // max(1, world_size))


def loader_workers(requested: int, device: torch.device, world_size: int = 1) -> int:
    """DataLoader worker processes: ``requested`` when >= 0, else chosen for the device.

    Auto (``-1``): none on a CPU, whose cores the model needs (on 2 cores a loader worker made
    pretraining 1.7x slower, benchmarks/bench_train.py); on a GPU, one per core left over after
    the ranks' main processes, at most 8 per rank, so augmentation keeps up with the GPU.
    """
    if requested >= 0:
        return requested
    if device.type == "cpu":
        return 0
    return max(0, min(8, available_cores() // max(1, world_size) - 1))


def wrap_ddp(model: torch.nn.Module, device: torch.device, info: DistInfo,
             find_unused_parameters: bool = True) -> torch.nn.Module:
    """DDP-wrap ``model`` when distributed (identity otherwise)."""
    if not info.enabled:
        return model
    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids, find_unused_parameters=find_unused_parameters)


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The module inside a DDP wrapper."""
    return model.module if isinstance(model, DistributedDataParallel) else model


class ResumableDistributedSampler(DistributedSampler):
    """``DistributedSampler`` that can skip the first ``start`` indices of its epoch (for resume).

    It yields ``(epoch, index)`` pairs so datasets seed their randomness by epoch even inside
    persistent DataLoader workers (which never see ``set_epoch`` calls made in the main process).
    """

    def __init__(self, dataset, info: DistInfo, *, shuffle: bool = True, seed: int = 0,
                 drop_last: bool = False) -> None:
        super().__init__(dataset, num_replicas=info.world_size, rank=info.rank, shuffle=shuffle,
                         seed=seed, drop_last=drop_last)
        self.start = 0

    def set_start(self, start: int) -> None:
        self.start = start

    def __iter__(self):
        indices = list(super().__iter__())
        return iter([(self.epoch, i) for i in indices[self.start:]])

    def __len__(self) -> int:
        return max(0, self.num_samples - self.start)


def any_rank(flag: bool, info: DistInfo) -> bool:
    """True on every rank if ``flag`` is True on any rank (keeps stop decisions in step)."""
    if not info.enabled:
        return flag
    t = torch.tensor([1.0 if flag else 0.0])
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def barrier(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.barrier()


def cleanup(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
