"""``volta evaluate --data PATH --model BUNDLE [--folds K] [--task T] [--out DIR] [key=value ...]``."""

from __future__ import annotations

import argparse
from pathlib import Path

from volta_core.train.cli_common import default_run_dir, error


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="metrics of a model bundle on a dataset (optionally k-fold CV)",
                       description="Without --folds: evaluate the bundle's trained head on the dataset. With "
                                   "--folds K: subject-level K-fold cross-validation, fine-tuning from the "
                                   "bundle's encoder on K-1 folds and testing on the held-out fold.")
    p.add_argument("--data", required=True, help="BIDS folder or CSV manifest")
    p.add_argument("--model", required=True, help="model bundle folder")
    p.add_argument("--folds", type=int, help="number of cross-validation folds (>= 2)")
    p.add_argument("--task", choices=("seg", "sex", "ad"), help="task (default: the bundle's trained head)")
    p.add_argument("--out", type=Path, help="output folder (default runs/evaluate-<time>)")
    p.add_argument("--seed", type=int, default=0, help="fold assignment seed")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="fine-tuning overrides for --folds, e.g. epochs=5")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from volta_core.config import ConfigError
    from volta_core.contracts.model_card import BundleError
    from volta_core.train.evaluate_bundle import evaluate_bundle
    from volta_core.train.finetune import DatasetInvalidError

    out = args.out or default_run_dir("evaluate")
    try:
        table = evaluate_bundle(args.data, args.model, out, folds=args.folds, task=args.task,
                                overrides=args.overrides, seed=args.seed, stream=None)
    except (BundleError, DatasetInvalidError, ConfigError, ValueError) as exc:
        return error(str(exc), 2)
    print(table.to_markdown())
    print(f"(written to {out / 'metrics_table.md'})")
    return 0
