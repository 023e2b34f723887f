"""``volta pretrain --config FILE [key=value ...] [--out RUN_DIR] [--resume]``."""

from __future__ import annotations

import argparse
from pathlib import Path

from volta_core.train.cli_common import add_run_arguments, config_source, default_run_dir, error, run_guarded


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("pretrain", help="self-supervised pretraining of the 3D ViT encoder",
                       description="Pretrain with the VolTA objective. Progress: JSON lines on stdout "
                                   "(see volta_core/train/events.py). Stop: SIGTERM/Ctrl-C or a STOP file "
                                   "in the run folder; continue with --resume.")
    p.add_argument("--init", help="continue from this model bundle's or pretraining run's encoder (its encoder "
                                  "preset, input grid, spacing, space and ROI are adopted unless overridden)")
    add_run_arguments(p, "pretrain", config_example="configs/pretrain_tiny.yaml",
                      override_example="optim.lr=1e-4 steps=200")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    out = args.out or default_run_dir("pretrain")
    return run_guarded(out, lambda: _run(args, out))


def _run(args: argparse.Namespace, out: Path) -> int:
    from volta_core.config import (
        ConfigError,
        PretrainConfig,
        config_from_init,
        init_mismatch,
        load_config,
    )
    from volta_core.model.ssl import NonFiniteLossError
    from volta_core.data.synth.sources import MissingSourceError
    from volta_core.train.checkpoint import CheckpointError, CheckpointWriteError
    from volta_core.train.collapse import TeacherCollapsedError
    from volta_core.train.device import DeviceError
    from volta_core.train.pretrain import run_pretraining
    from volta_core.train.task_models import InitError

    if args.resume and not args.out:
        return error("--resume needs --out RUN_DIR (the run to continue)", 2)
    try:
        cfg = load_config(PretrainConfig, config_source(args.config, out, args.resume), args.overrides)
        cfg.init = args.init or cfg.init
        if cfg.init and not args.resume:  # a resume takes everything from its run folder and checkpoint
            cfg = config_from_init(cfg, cfg.init, args.overrides)
            problem = init_mismatch(cfg, cfg.init)
            if problem:
                return error(f"cannot start from {cfg.init}: {problem}", 2)
        run_pretraining(cfg, out, resume=args.resume)
    except CheckpointWriteError as exc:  # disk full: the job failed, the input was fine
        return error(str(exc), 1)
    except (ConfigError, DeviceError, FileExistsError, CheckpointError, MissingSourceError, InitError,
            ValueError) as exc:
        return error(str(exc), 2)
    except (NonFiniteLossError, TeacherCollapsedError) as exc:
        return error(str(exc), 1)
    return 0
