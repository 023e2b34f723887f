"""What the training subcommands share: arguments, run-folder names, config set-up and error reporting."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any


def add_run_arguments(parser: argparse.ArgumentParser, kind: str, *, config_example: str,
                      override_example: str) -> None:
    """The arguments every training subcommand takes: config, run folder, resume, overrides."""
    parser.add_argument("--config", help=f"YAML/JSON config (e.g. {config_example})")
    parser.add_argument("--out", type=Path, help=f"run folder (default runs/{kind}-<time>)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help=f"config overrides, e.g. {override_example}")


def default_run_dir(kind: str) -> Path:
    """``runs/<kind>-YYYYmmdd-HHMMSS`` under the current folder."""
    return Path("runs") / f"{kind}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


def error(message: str, code: int) -> int:
    """Print ``volta: error: ...`` on stderr and return ``code``."""
    print(f"volta: error: {message}", file=sys.stderr)
    return code


def config_source(config: str | None, out: Path, resume: bool) -> str | None:
    """The config file to use: ``--config``, else the run's own ``config.yaml`` when resuming."""
    if config:
        return config
    if resume and (out / "config.yaml").is_file():
        return str(out / "config.yaml")
    return None


def run_guarded(out: Path, body: Callable[[], int]) -> int:
    """Run a training subcommand so that every fault ends in one line and an ending event.

    From the first line on, SIGTERM/SIGINT during set-up stop the run with a ``stopped`` event
    (exit 0, as any stop on request); out-of-memory and full-disk errors exit 1 with their one-line
    message; anything unexpected exits 1 with one line (``VOLTA_DEBUG=1`` shows the traceback;
    a run that got as far as its run folder also has it in ``train.log``).
    """
    from volta_core.train.events import EventLog, EventWriteError
    from volta_core.train.faults import DiskFullError, TrainingOutOfMemoryError, first_line
    from volta_core.train.stopping import StopRequested, stop_on_signal

    try:
        with stop_on_signal():
            return body()
    except StopRequested as stop:
        if not stop.reported:  # stopped before the run folder was opened
            EventLog(out, to_file=False).emit("stopped", step=0, reason="signal", during="set-up", path=None)
        return 0
    except (TrainingOutOfMemoryError, DiskFullError, EventWriteError) as exc:
        return error(str(exc), 1)
    except Exception as exc:
        if os.environ.get("VOLTA_DEBUG"):
            raise
        log = out / "train.log"
        where = f"; details in {log}" if log.is_file() else "; run with VOLTA_DEBUG=1 for details"
        return error(f"unexpected {type(exc).__name__}: {first_line(exc)}{where}", 1)


def run_training(args: argparse.Namespace, out: Path, config_cls: type, train: Callable[..., Any], *,
                 from_arguments: Callable[[Any], None] | None = None,
                 check: Callable[[Any], str | None] = lambda cfg: None) -> int:
    """What ``volta pretrain`` and ``volta finetune`` do once their arguments are parsed.

    The config is read (``--config``, or the run's own ``config.yaml`` on ``--resume``) with the
    overrides on top; ``from_arguments`` puts the command's own arguments in (paths go in as
    given, never through YAML parsing); a new run from ``--init`` adopts the starting model's
    encoder and input settings unless an override says otherwise, and is refused if its weights
    cannot fit; ``check`` names anything else that is wrong. Then ``train(cfg, out, resume=...)``.

    Returns:
        0, or the exit code after a one-line error: 2 for input the user can fix (config, dataset,
        device, starting model, an existing run folder), 1 when the run itself failed (disk full,
        a loss that became NaN/Inf, a collapsed teacher).
    """
    from volta_core.config import ConfigError, config_from_init, init_mismatch, load_config
    from volta_core.data.synth.sources import MissingSourceError
    from volta_core.model.ssl import NonFiniteLossError
    from volta_core.train.checkpoint import CheckpointError, CheckpointWriteError
    from volta_core.train.collapse import TeacherCollapsedError
    from volta_core.train.device import DeviceError
    from volta_core.train.engine import TrainingDivergedError
    from volta_core.train.task_models import InitError

    if args.resume and not args.out:
        return error("--resume needs --out RUN_DIR (the run to continue)", 2)
    try:
        cfg = load_config(config_cls, config_source(args.config, out, args.resume), args.overrides)
        if from_arguments is not None:
            from_arguments(cfg)
        cfg.init = args.init or cfg.init
        if cfg.init and not args.resume:  # a resume takes everything from its run folder and checkpoint
            cfg = config_from_init(cfg, cfg.init, args.overrides)
            problem = init_mismatch(cfg, cfg.init)
            if problem:
                return error(f"cannot start from {cfg.init}: {problem}", 2)
        problem = check(cfg)
        if problem:
            return error(problem, 2)
        train(cfg, out, resume=args.resume)
    except CheckpointWriteError as exc:  # disk full: the job failed, the input was fine
        return error(str(exc), 1)
    except (ConfigError, DeviceError, FileExistsError, CheckpointError, MissingSourceError, InitError,
            ValueError) as exc:  # DatasetInvalidError is a ValueError
        return error(str(exc), 2)
    except (NonFiniteLossError, TrainingDivergedError, TeacherCollapsedError) as exc:
        return error(str(exc), 1)
    return 0
