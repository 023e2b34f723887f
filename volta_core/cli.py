"""The one command-line entry: ``volta <subcommand> ...``.

Each subcommand lives in its own module exposing ``add_parser(subparsers)`` (which sets
``func``) and a ``run(args) -> int`` function; heavy imports (torch) happen inside ``run`` so
``volta --help`` stays fast. Add a subcommand by appending its module to :data:`SUBCOMMANDS`.
Only this layer turns exceptions into exit codes: 0 ok (or stopped on request), 1 the job
failed, 2 bad input (config, dataset, bundle).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

SUBCOMMANDS = (
    "volta_core.train.cli_pretrain",
    "volta_core.train.cli_finetune",
    "volta_core.train.cli_evaluate",
    "volta_core.data.cli_synth",
    "volta_core.infer.cli_predict",
)


def build_parser() -> argparse.ArgumentParser:
    """The ``volta`` argument parser with every registered subcommand."""
    parser = argparse.ArgumentParser(prog="volta", description="VolTA-3D Studio command line (research use only).")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in SUBCOMMANDS:
        importlib.import_module(name).add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the chosen subcommand; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
