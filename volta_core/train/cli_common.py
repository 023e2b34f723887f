"""Helpers shared by the training subcommands: run-folder names and error reporting."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path


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
