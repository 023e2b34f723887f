"""The one command-line entry: ``volta <subcommand> ...``.

Each subcommand lives in its own module exposing ``add_parser(subparsers)`` (which sets
``func``) and a ``run(args) -> int`` function; heavy imports (torch) happen inside ``run`` so
``volta --help`` stays fast. Add a subcommand by adding its module to :data:`SUBCOMMANDS`.
Only this layer turns exceptions into exit codes: 0 ok (or stopped on request), 1 the job
failed, 2 bad input (config, dataset, bundle).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

#: name -> (module, one-line help). Only the chosen subcommand's module is imported: the others
#: pull in torch, and ``volta --help`` must stay fast (the module's own help wins once loaded).
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "pretrain": ("volta_core.train.cli_pretrain", "self-supervised pretraining of the 3D ViT encoder"),
    "finetune": ("volta_core.train.cli_finetune", "fine-tune for hippocampus segmentation, sex or AD classification"),
    "evaluate": ("volta_core.train.cli_evaluate", "metrics of a model bundle on a dataset (optionally k-fold CV)"),
    "synth-data": ("volta_core.data.cli_synth",
                   "write a toy synthetic BIDS dataset (heads with hippocampus masks)"),
    "predict": ("volta_core.infer.cli_predict",
                "segment the hippocampus (and classify) on scans; writes masks, JSON and results.csv"),
}


def _chosen(argv: Sequence[str]) -> str | None:
    """The subcommand named in ``argv`` (the first word that is one), if any."""
    return next((a for a in argv if not a.startswith("-")), None)


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The ``volta`` argument parser.

    Args:
        argv: the command line; only its subcommand's module is imported and gets its full
            parser (``None``: every subcommand's, for tools that document the whole CLI).
    """
    parser = argparse.ArgumentParser(prog="volta", description="VolTA-3D Studio command line (research use only).")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    chosen = _chosen(argv) if argv is not None else None
    for name, (module, help_text) in SUBCOMMANDS.items():
        if argv is None or name == chosen:
            importlib.import_module(module).add_parser(sub)
        else:
            sub.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the chosen subcommand; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
