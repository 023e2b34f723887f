"""``volta finetune --task seg|sex|ad --data PATH [--init BUNDLE] [--config FILE] [key=value ...]``."""

from __future__ import annotations

import argparse
from pathlib import Path

from volta_core.train.cli_common import add_run_arguments, default_run_dir, run_guarded, run_training


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
    from volta_core.config import FinetuneConfig
    from volta_core.train.finetune import run_finetune

    def from_arguments(cfg: FinetuneConfig) -> None:  # paths go in as given, never through YAML parsing
        cfg.task = args.task or cfg.task
        cfg.data_path = args.data or cfg.data_path

    def check(cfg: FinetuneConfig) -> str | None:
        if cfg.task not in ("seg", "sex", "ad"):
            return f"task must be seg, sex or ad, got {cfg.task!r}"
        if not cfg.data_path and not cfg.synth.subset:
            return ("no dataset: pass --data PATH (BIDS folder or CSV manifest), "
                    "or synth.subset=dk for synthetic brains (recipe extras)")
        return None

    return run_training(args, out, FinetuneConfig, run_finetune, from_arguments=from_arguments, check=check)
