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
from volta_core.train.events import EventLog
from volta_core.train.run_folder import RunFolder, close_logger, make_logger, prepare_run_folder


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

    Args:
        cfg: a resolved config with ``threads`` and ``device``.
        run_dir: the run folder (created, or checked for ``resume``).
        resume: continue an existing run folder.
        stream: where rank 0 prints events (None: only ``metrics.jsonl``).
        name: logger name (``"pretrain"``, ``"finetune"``).
    """
    info = D.env_dist_info()
    torch.set_num_threads(D.threads_per_rank(info.world_size, cfg.threads))
    device = choose_device(cfg.device, info.local_rank)
    info = D.init_distributed(device)
    run = prepare_run_folder(run_dir, cfg, resume=resume, is_main=info.is_main)
    D.barrier(info)
    events = EventLog(run.root, enabled=info.is_main, stream=stream)
    log = make_logger(run, info.is_main, name)
    try:
        yield RunSession(info, device, run, events, log)
    finally:
        close_logger(log)
        D.cleanup(info)
