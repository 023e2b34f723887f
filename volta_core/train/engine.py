"""Pieces shared by the pretraining and fine-tuning loops.

- :func:`epoch_batches`: an endless, resumable stream of batches (epoch-seeded order).
- :class:`Schedules`: per-iteration lr / weight decay applied to ``param_groups`` with scales.
- :func:`optimizer_step`: unscale, clip, step, update the grad scaler.
- :func:`checkpoint_state` / :func:`restore_state`: what exact resume needs.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from volta_core.model.ssl.schedules import CosineScheduler
from volta_core.train.checkpoint import REQUIRED_KEYS, CheckpointError, load_checkpoint, rng_state, set_rng_state
from volta_core.train.distributed import DistInfo, ResumableDistributedSampler


class TrainingDivergedError(FloatingPointError):
    """A loss became NaN/Inf: the run stops (lower the learning rate or check the data)."""


@dataclass
class BatchStream:
    """Endless batches over epochs, starting at a given micro-batch (for exact resume).

    With ``prefetch > 0`` batches are prepared that many ahead in a background thread, so
    augmentation overlaps the training step. Order and content are exactly those of the serial
    stream (all data randomness comes from per-sample generators, never global RNG state), so
    resume stays exact. ``wait_s`` counts only the time the training step is blocked on data.
    """

    loader: DataLoader
    sampler: ResumableDistributedSampler
    dataset: Any
    batches_per_epoch: int
    wait_s: float = 0.0  # total time spent waiting for data
    prefetch: int = 0

    def _batches(self, start_micro: int) -> Iterator[tuple[int, Any]]:
        epoch, offset = divmod(start_micro, self.batches_per_epoch)
        while True:
            self.sampler.set_epoch(epoch)
            self.sampler.set_start(offset * self.loader.batch_size)  # type: ignore[operator]
            if hasattr(self.dataset, "set_epoch"):
                self.dataset.set_epoch(epoch)
            it = iter(self.loader)
            for _ in range(offset, self.batches_per_epoch):
                yield epoch, next(it)
            del it
            epoch, offset = epoch + 1, 0

    def iterate(self, start_micro: int) -> Iterator[tuple[int, Any]]:
        """Yield ``(epoch, batch)`` from global micro-batch ``start_micro`` onward."""
        if self.prefetch <= 0:
            batches = self._batches(start_micro)
            while True:
                t0 = time.perf_counter()
                item = next(batches)
                self.wait_s += time.perf_counter() - t0
                yield item
        ready: queue.Queue = queue.Queue(maxsize=self.prefetch)
        stop = threading.Event()

        def put(entry: tuple[str, Any]) -> None:
            while not stop.is_set():
                try:
                    ready.put(entry, timeout=0.1)
                    return
                except queue.Full:
                    continue

        def produce() -> None:
            try:
                for item in self._batches(start_micro):
                    if stop.is_set():
                        return
                    put(("batch", item))
            except BaseException as exc:  # noqa: BLE001 - handed to the training thread, which raises it
                put(("error", exc))

        producer = threading.Thread(target=produce, name="volta-data-prefetch", daemon=True)
        producer.start()
        try:
            while True:
                t0 = time.perf_counter()
                kind, value = ready.get()
                self.wait_s += time.perf_counter() - t0
                if kind == "error":
                    raise value
                yield value
        finally:
            stop.set()
            producer.join(timeout=10)


def make_stream(dataset: Dataset, *, batch_size: int, info: DistInfo, seed: int, num_workers: int,
                collate_fn: Any, shuffle: bool = True) -> BatchStream:
    """DataLoader over a resumable DistributedSampler (spawned workers when ``num_workers > 0``).

    Raises:
        ValueError: fewer samples per rank than one batch.
    """
    sampler = ResumableDistributedSampler(dataset, info, shuffle=shuffle, seed=seed, drop_last=False)
    per_rank = sampler.num_samples
    if per_rank < batch_size:
        raise ValueError(f"{len(dataset)} samples over {info.world_size} rank(s) cannot fill a batch of "  # type: ignore[arg-type]
                         f"{batch_size}: add data or lower batch_size")
    loader = DataLoader(dataset, batch_size=batch_size, sampler=sampler, collate_fn=collate_fn,
                        num_workers=num_workers, drop_last=True, persistent_workers=num_workers > 0,
                        multiprocessing_context="spawn" if num_workers > 0 else None,
                        generator=torch.Generator().manual_seed(seed))
    # prefetch in a thread only with a core to spare: on 2 cores with 2 torch threads it measured
    # slower (3.5 vs 4.7 volumes/s pretraining vit3d_tiny) although the step no longer waited
    spare_core = (os.cpu_count() or 1) > torch.get_num_threads()
    return BatchStream(loader, sampler, dataset, per_rank // batch_size, prefetch=2 if spare_core else 0)


@dataclass
class Schedules:
    """Learning rate and weight decay per optimizer step (group scales from ``param_groups_lrd``)."""

    lr: CosineScheduler
    wd: CosineScheduler
    extra: dict[str, CosineScheduler] = field(default_factory=dict)

    def apply(self, optimizer: torch.optim.Optimizer, step: int) -> dict[str, float]:
        lr, wd = self.lr[step], self.wd[step]
        for g in optimizer.param_groups:
            g["lr"] = lr * g.get("lr_scale", 1.0)
            g["weight_decay"] = wd * g.get("wd_scale", 1.0)
        return {"lr": lr, "wd": wd, **{k: s[step] for k, s in self.extra.items()}}


def make_schedules(lr: float, min_lr: float, wd: float, wd_end: float, warmup: int, total: int) -> Schedules:
    return Schedules(lr=CosineScheduler(lr, min_lr, total, warmup_iters=min(warmup, total - 1 if total > 1 else 0)),
                     wd=CosineScheduler(wd, wd_end, total))


def optimizer_step(optimizer: torch.optim.Optimizer, params: list[torch.nn.Parameter], grad_clip: float,
                   scaler: torch.amp.GradScaler | None) -> float:
    """Unscale (if scaling), clip to ``grad_clip`` (0 = off), step; returns the gradient norm."""
    if scaler is not None:
        scaler.unscale_(optimizer)
    norm = torch.nn.utils.clip_grad_norm_(params, grad_clip if grad_clip > 0 else float("inf"))
    if scaler is not None:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()
    return float(norm)


def checkpoint_state(model: torch.nn.Module, optimizer: torch.optim.Optimizer, step: int, epoch: int,
                     scaler: torch.amp.GradScaler | None, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Everything exact resume needs, as tensors and primitive containers only."""
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": int(step),
             "epoch": int(epoch), "rng": rng_state(), "format": 1}
    if scaler is not None:
        state["scaler"] = scaler.state_dict()
    if extra:
        state["extra"] = extra
    return state


def restore_state(state: dict[str, Any], model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                  scaler: torch.amp.GradScaler | None) -> int:
    """Load a checkpoint dict into the objects; returns the step to continue from."""
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    if scaler is not None and "scaler" in state:
        scaler.load_state_dict(state["scaler"])
    set_rng_state(state["rng"])
    return int(state["step"])


def restore_checkpoint(path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                       scaler: torch.amp.GradScaler | None, device: torch.device) -> dict[str, Any]:
    """Load ``path`` into model, optimizer and scaler; returns the checkpoint dict.

    Raises:
        CheckpointError: damaged, not a training checkpoint, or written for another model
            (the message names the file and what to do).
    """
    state = load_checkpoint(path, device, required=REQUIRED_KEYS)
    try:
        restore_state(state, model, optimizer, scaler)
    except (KeyError, RuntimeError, ValueError, TypeError) as exc:
        first = next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
        raise CheckpointError(f"checkpoint {path} does not fit this run's model and optimizer ({first[:200]}); "
                              "it belongs to another config: resume with the run's own config.yaml, or delete "
                              "it to restart the run from step 0") from exc
    return state


def to_device(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    return {k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


class Throughput:
    """Volumes per second and ETA from an exponential moving average of step times."""

    def __init__(self) -> None:
        self.avg: float | None = None

    def update(self, seconds: float) -> float:
        self.avg = seconds if self.avg is None else 0.9 * self.avg + 0.1 * seconds
        return self.avg
