"""What every training run sets up and tears down, in one place (pretraining and fine-tuning)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import torch

from volta_core.train import distributed as D
from volta_core.train.device import choose_device
from volta_core.train.checkpoint import remove_stale_temp_files
from volta_core.train.events import EventLog, read_events
from volta_core.train.faults import user_error
from volta_core.train.run_folder import RunFolder, close_logger, make_logger, prepare_run_folder
from volta_core.train.stopping import StopRequested, stop_on_signal


@dataclass
class RunSession:
    """The process's place in a (possibly distributed) run and where it reports."""

    info: D.DistInfo
    device: torch.device
    run: RunFolder
    events: EventLog
    log: logging.Logger


@contextlib.contextmanager
def open_run(cfg: Any, run_dir: str | Path, *, resume: bool, stream: TextIO | None, name: str) -> Iterator[RunSession]:
    """Threads per rank, device, process group, run folder, events and log; cleaned up on exit.

    Every way the block can end is reported: a signal during set-up gives a ``stopped`` event
    (:class:`StopRequested` is re-raised, marked ``reported``); any other exception gives one
    ``failed`` event (unless the loop already emitted one), its traceback goes to ``train.log``,
    and out-of-memory and full-disk errors are re-raised as the typed one-line errors of
    :mod:`volta_core.train.faults`.

    Args:
        cfg: a resolved config with ``threads`` and ``device``.
        run_dir: the run folder (created, or checked for ``resume``).
        resume: continue an existing run folder.
        stream: where rank 0 prints events (None: only ``metrics.jsonl``).
        name: logger name (``"pretrain"``, ``"finetune"``).
    """
    info = D.env_dist_info()
    # until the run folder is ready, events go to stdout only
    events = EventLog(run_dir, enabled=info.is_main, stream=stream, to_file=False)
    log: logging.Logger | None = None
    with stop_on_signal():
        try:
            torch.set_num_threads(D.threads_per_rank(info.world_size, cfg.threads))
            device = choose_device(cfg.device, info.local_rank)
            info = D.init_distributed(device)
            run = prepare_run_folder(run_dir, cfg, resume=resume, is_main=info.is_main)
            D.barrier(info)
            if info.is_main:
                remove_stale_temp_files(run.checkpoint)
            events.to_file = True
            log = make_logger(run, info.is_main, name)
            yield RunSession(info, device, run, events, log)
        except StopRequested as stop:
            if events.ended is None:
                checkpoint = RunFolder(Path(run_dir)).checkpoint
                events.emit("stopped", step=_resume_step(events, resume), reason="signal", during="set-up",
                            path=checkpoint if checkpoint.is_file() else None)
            stop.reported = True
            if log is not None:
                log.info("stopped by signal %d during set-up", stop.signum)
            raise
        except Exception as exc:
            typed = user_error(exc, events.step, started=events.started)
            if log is not None:
                log.error("failed at step %d", events.step, exc_info=exc)
            if events.ended is None:
                shown = typed or exc
                events.emit("failed", step=events.step, error=type(shown).__name__, message=str(shown))
            if typed is not None and typed is not exc:
                raise typed from exc
            raise
        finally:
            if log is not None:
                close_logger(log)
            D.cleanup(info)


def _resume_step(events: EventLog, resume: bool) -> int:
    """The step a run stopped during set-up is at: that of its last checkpoint event, else 0."""
    if events.step or not resume or not events.path.is_file():
        return events.step
    done = [e["step"] for e in read_events(events.path) if e["event"] == "checkpoint" and isinstance(e.get("step"), int)]
    return done[-1] if done else 0
