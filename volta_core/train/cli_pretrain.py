"""``volta pretrain --config FILE [key=value ...] [--out RUN_DIR] [--resume]``."""

from __future__ import annotations

import argparse
from pathlib import Path

from volta_core.train.cli_common import add_run_arguments, default_run_dir, run_guarded, run_training


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("pretrain", help="self-supervised pretraining of the 3D ViT encoder",
                       description="Pretrain with the VolTA objective. Progress: JSON lines on stdout "
                                   "(see volta_core/contracts/events.py). Stop: SIGTERM/Ctrl-C or a STOP file "
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
    from volta_core.config import PretrainConfig
    from volta_core.train.pretrain import run_pretraining

    return run_training(args, out, PretrainConfig, run_pretraining)
