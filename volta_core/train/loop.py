"""The one optimizer-step loop that pretraining and fine-tuning share.

Per optimizer step: the schedules set lr and weight decay (and any extra per-step values, e.g.
the teacher momentum); ``accumulation`` micro-batches run under autocast and their losses, divided
by ``accumulation`` (and scaled by the GradScaler when there is one), are summed into the
gradients, with DDP synchronising only on the last; one clipped optimizer step follows. Then a
``step`` event every ``log_every`` steps and at the end, a checkpoint every ``checkpoint_every``
steps and at the end, and a stop request (SIGTERM / SIGINT / ``STOP`` file, on any rank) saves a
checkpoint and ends the loop with a ``stopped`` event. A loss that is NaN or infinite ends it with
a ``failed`` event. Set-up and every other fault (out of memory, full disk) are the run
session's (:mod:`volta_core.train.session`).

What differs between the kinds of training (the loss, what follows each step, what a checkpoint
carries besides the weights) is a :class:`LoopTask`.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from volta_core.model.device import Precision
from volta_core.model.optim_groups import param_groups_lrd
from volta_core.model.ssl import NonFiniteLossError
from volta_core.train import distributed as D
from volta_core.train.checkpoint import save_checkpoint
from volta_core.train.engine import (
    BatchStream,
    Schedules,
    Throughput,
    TrainingDivergedError,
    checkpoint_state,
    optimizer_step,
    to_device,
)
from volta_core.train.events import EventLog
from volta_core.train.run_folder import RunFolder
from volta_core.train.stopping import StopRequest

#: A loss that became NaN or infinite: the loop emits ``failed`` and re-raises.
DIVERGED = (NonFiniteLossError, TrainingDivergedError)


@dataclass
class Optimisation:
    """The optimizer of a run and what its step needs."""

    optimizer: torch.optim.Optimizer
    params: list[nn.Parameter]  # what gradient clipping sees
    scaler: torch.amp.GradScaler | None  # fp16 only


def make_optimisation(model: nn.Module, optim: Any, precision: Precision, device: torch.device,
                      layer_decay: float = 1.0) -> Optimisation:
    """AdamW over ``param_groups_lrd`` (no decay on norms and biases; ``layer_decay`` < 1 scales
    the lr of earlier encoder blocks down), and a GradScaler when the precision needs one.

    Args:
        optim: the config's ``optim`` section (``lr``, ``weight_decay``, ``betas``).
    """
    groups = param_groups_lrd(model, optim.lr, optim.weight_decay, layer_decay=layer_decay)
    params = [p for g in groups for p in g["params"]]
    optimizer = torch.optim.AdamW(groups, lr=optim.lr, betas=tuple(optim.betas))  # type: ignore[arg-type]
    scaler = torch.amp.GradScaler(device.type) if precision.use_scaler else None
    return Optimisation(optimizer, params, scaler)


@dataclass
class LoopEnd:
    """How the loop ended: ``"finished"`` (all steps done) or ``"stopped"`` (on request)."""

    status: str
    step: int
    epoch: int
    checkpoint: Path | None  # the newest checkpoint the loop wrote (None if it wrote none)


class LoopTask:
    """What one kind of training adds to the shared loop; the loop calls these in this order.

    Attributes:
        epoch_in_failure: whether the ``failed`` event of a diverged loss names the epoch.
    """

    epoch_in_failure = True

    def loss(self, model: nn.Module, batch: dict[str, Any], values: dict[str, float]) -> tuple[Tensor, dict[str, Tensor]]:
        """One micro-batch's loss (runs under autocast) and the terms the ``step`` event reports
        (each averaged over the micro-batches; ``"loss"`` first)."""
        raise NotImplementedError

    def after_optimizer_step(self, values: dict[str, float]) -> None:
        """Right after the weights changed (e.g. the EMA teacher follows the student)."""

    def epoch(self, stream_epoch: int, step: int) -> int:
        """The epoch the finished ``step`` belongs to (default: that of its last batch)."""
        return stream_epoch

    def before_report(self, loop: TrainingLoop, terms: dict[str, float]) -> None:
        """After the step, before its ``step`` event (e.g. a collapse check that may warn)."""

    def after_report(self, loop: TrainingLoop, terms: dict[str, float], values: dict[str, float],
                     reported: bool) -> None:
        """After the ``step`` event (``reported``: one was emitted), before the checkpoint."""

    def checkpoint_extra(self) -> dict[str, Any] | None:
        """What a checkpoint holds besides weights, optimizer, step and RNG (None: nothing)."""
        return None

    def on_stop(self, loop: TrainingLoop, reason: str | None) -> None:
        """After the ``stopped`` event."""


@dataclass
class TrainingLoop:
    """The steps of a run from ``step`` to ``total``; see the module docstring.

    Attributes:
        model: the network itself: checkpoints hold its state.
        forward: what runs the micro-batches (the DDP wrapper of ``model``, or ``model``).
        batch_size: per rank and micro-batch (for the throughput).
        step: optimizer steps done (the resume point before :meth:`run`).
        epoch: the epoch of the latest step.
    """

    task: LoopTask
    model: nn.Module
    forward: nn.Module
    optimisation: Optimisation
    precision: Precision
    schedules: Schedules
    batches: BatchStream
    run_folder: RunFolder
    info: D.DistInfo
    device: torch.device
    events: EventLog
    log: logging.Logger
    total: int
    accumulation: int
    grad_clip: float
    batch_size: int
    log_every: int
    checkpoint_every: int
    step: int = 0
    epoch: int = 0
    checkpoint: Path | None = None
    _stream_epoch: int = 0  # epoch of the latest micro-batch

    def run(self) -> LoopEnd:
        """Train until ``total`` steps or a stop request.

        Raises:
            NonFiniteLossError, TrainingDivergedError: a loss became NaN/Inf (``failed`` emitted).
        """
        opt = self.optimisation
        batches = self.batches.iterate(self.step * self.accumulation)
        timer = Throughput()
        with StopRequest(self.run_folder.root) as stop:
            try:
                while self.step < self.total:
                    values = self.schedules.apply(opt.optimizer, self.step)
                    opt.optimizer.zero_grad(set_to_none=True)
                    t0, wait0 = time.perf_counter(), self.batches.wait_s
                    terms = self._accumulate(batches, values)
                    grad_norm = optimizer_step(opt.optimizer, opt.params, self.grad_clip, opt.scaler)
                    self.task.after_optimizer_step(values)
                    self.step += 1
                    self.epoch = self.task.epoch(self._stream_epoch, self.step)
                    dt = time.perf_counter() - t0
                    avg = timer.update(dt)
                    self.task.before_report(self, terms)
                    reported = self.step % self.log_every == 0 or self.step == self.total
                    if reported:
                        volumes = self.batch_size * self.accumulation * self.info.world_size
                        self.events.emit("step", step=self.step, epoch=self.epoch, **terms, **values,
                                         grad_norm=grad_norm, volumes_per_s=volumes / max(avg, 1e-9), step_s=dt,
                                         data_wait_frac=(self.batches.wait_s - wait0) / max(dt, 1e-9),
                                         eta_s=avg * (self.total - self.step))
                    self.task.after_report(self, terms, values, reported)
                    if self.step % self.checkpoint_every == 0 or self.step == self.total:
                        self.save()
                    reason = stop.reason()
                    if D.any_rank(reason is not None, self.info) and self.step < self.total:
                        self.save()
                        self.events.emit("stopped", step=self.step, epoch=self.epoch, reason=reason or "peer",
                                         path=self.run_folder.checkpoint)
                        self.task.on_stop(self, reason)
                        return LoopEnd("stopped", self.step, self.epoch, self.checkpoint)
            except DIVERGED as exc:
                where = {"epoch": self._stream_epoch} if self.task.epoch_in_failure else {}
                self.events.emit("failed", step=self.step + 1, **where, error=type(exc).__name__, message=str(exc))
                self.log.error("failed at step %d: %s", self.step + 1, exc)
                raise
        return LoopEnd("finished", self.step, self.epoch, self.checkpoint)

    def _accumulate(self, batches: Iterator[tuple[int, Any]], values: dict[str, float]) -> dict[str, float]:
        """Gradients of ``accumulation`` micro-batches; returns the reported terms' means."""
        accum, scaler = self.accumulation, self.optimisation.scaler
        sums: dict[str, float] = {}
        for micro in range(accum):
            self._stream_epoch, batch = next(batches)
            batch = to_device(batch, self.device)
            last = micro == accum - 1 or not self.info.enabled
            with contextlib.nullcontext() if last else self.forward.no_sync():  # type: ignore[operator]
                with self.precision.autocast(self.device):
                    loss, terms = self.task.loss(self.forward, batch, values)
                if not torch.isfinite(loss.detach()):
                    raise TrainingDivergedError(f"loss is {float(loss.detach())} at step {self.step + 1}: lower "
                                                "optim.lr, raise optim.warmup_steps or check the images")
                share = loss / accum
                (scaler.scale(share) if scaler is not None else share).backward()
            for key, value in terms.items():
                sums[key] = sums.get(key, 0.0) + float(value.detach()) / accum
        return sums

    def save(self) -> Path:
        """Write the checkpoint (rank 0, with its ``checkpoint`` event); every rank waits for it."""
        if self.info.is_main:
            opt = self.optimisation
            state = checkpoint_state(self.model, opt.optimizer, self.step, self.epoch, opt.scaler,
                                     extra=self.task.checkpoint_extra())
            save_checkpoint(self.run_folder.checkpoint, state)
            self.events.emit("checkpoint", step=self.step, epoch=self.epoch, path=self.run_folder.checkpoint)
        D.barrier(self.info)
        self.checkpoint = self.run_folder.checkpoint
        return self.checkpoint
