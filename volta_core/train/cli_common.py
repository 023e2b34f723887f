"""Helpers shared by the training subcommands: run-folder names and error reporting."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path


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
