"""``volta finetune --task seg|sex|ad --data PATH [--init BUNDLE] [--config FILE] [key=value ...]``."""

from __future__ import annotations

import argparse
from pathlib import Path

from volta_core.train.cli_common import (
    add_run_arguments,
    config_source,
    default_run_dir,
    error,
    run_guarded,
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("finetune", help="fine-tune for hippocampus segmentation, sex or AD classification",
                       description="Validate the dataset, fine-tune, and write a model bundle into RUN_DIR/bundle. "
                                   "With --init, the encoder preset, input grid, spacing, space and ROI come "
                                   "from the starting model's card unless a key=value override sets them.")
    p.add_argument("--task", choices=("seg", "sex", "ad"), help="task (default: from the config, else seg)")
    p.add_argument("--data", help="BIDS folder or CSV manifest")
    p.add_argument("--init", help="pretrained model bundle or pretraining run folder")
    add_run_arguments(p, "finetune", config_example="configs/finetune_seg_tiny.yaml",
                      override_example="epochs=5 mode=linear")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    out = args.out or default_run_dir("finetune")
    return run_guarded(out, lambda: _run(args, out))


def _run(args: argparse.Namespace, out: Path) -> int:
    from volta_core.config import (
        ConfigError,
        FinetuneConfig,
        config_from_init,
        init_mismatch,
        load_config,
    )
    from volta_core.data.synth.sources import MissingSourceError
    from volta_core.train.checkpoint import CheckpointError, CheckpointWriteError
    from volta_core.train.device import DeviceError
    from volta_core.train.engine import TrainingDivergedError
    from volta_core.train.finetune import DatasetInvalidError, run_finetune
    from volta_core.train.task_models import InitError

    if args.resume and not args.out:
        return error("--resume needs --out RUN_DIR (the run to continue)", 2)
    try:
        cfg = load_config(FinetuneConfig, config_source(args.config, out, args.resume), args.overrides)
        # paths go in as given, never through YAML parsing
        cfg.task = args.task or cfg.task
        cfg.data_path = args.data or cfg.data_path
        cfg.init = args.init or cfg.init
        if cfg.init and not args.resume:  # a resume takes everything from its run folder and checkpoint
            # the starting model's encoder and input settings, unless a key=value override says otherwise
            cfg = config_from_init(cfg, cfg.init, args.overrides)
            problem = init_mismatch(cfg, cfg.init)
            if problem:
                return error(f"cannot start from {cfg.init}: {problem}", 2)
        if cfg.task not in ("seg", "sex", "ad"):
            return error(f"task must be seg, sex or ad, got {cfg.task!r}", 2)
        if not cfg.data_path and not cfg.synth.subset:
            return error("no dataset: pass --data PATH (BIDS folder or CSV manifest), "
                         "or synth.subset=dk for synthetic brains (recipe extras)", 2)
        run_finetune(cfg, out, resume=args.resume)
    except DatasetInvalidError as exc:
        return error(str(exc), 2)
    except CheckpointWriteError as exc:  # disk full: the job failed, the input was fine
        return error(str(exc), 1)
    except (ConfigError, DeviceError, FileExistsError, CheckpointError, InitError, MissingSourceError,
            ValueError) as exc:
        return error(str(exc), 2)
    except TrainingDivergedError as exc:
        return error(str(exc), 1)
    return 0
