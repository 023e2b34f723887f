"""Run folders: ``config.yaml``, ``metrics.jsonl``, ``train.log``, ``checkpoints/``, ``bundle/``."""

from __future__ import annotations

import logging
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from volta_core.config import save_config

CHECKPOINT_NAME = "last.pt"


@dataclass(frozen=True)
class RunFolder:
    """Paths of one training run."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.jsonl"

    @property
    def log(self) -> Path:
        return self.root / "train.log"

    @property
    def checkpoint(self) -> Path:
        return self.root / "checkpoints" / CHECKPOINT_NAME

    @property
    def bundle(self) -> Path:
        return self.root / "bundle"

    @property
    def stop_file(self) -> Path:
        return self.root / "STOP"


def prepare_run_folder(root: str | Path, cfg: Any, *, resume: bool, is_main: bool) -> RunFolder:
    """Create the folder and write the resolved config (rank 0); a resume removes a stale STOP file.

    Raises:
        FileExistsError: a fresh run would overwrite a folder that already has a checkpoint.
    """
    run = RunFolder(Path(root))
    if is_main:
        run.root.mkdir(parents=True, exist_ok=True)
        if not resume and run.checkpoint.exists():
            raise FileExistsError(f"{run.root} already holds a run: resume it with --resume or choose another --out")
        if resume:
            run.stop_file.unlink(missing_ok=True)
        save_config(cfg, run.config)
    return run


def make_logger(run: RunFolder, is_main: bool, name: str) -> logging.Logger:
    """A logger writing human-readable lines to ``train.log`` (rank 0; silent elsewhere)."""
    logger = logging.getLogger(f"volta.train.{name}.{run.root}")
    logger.handlers.clear()
    logger.propagate = False
    logger.setLevel(logging.INFO)
    if is_main:
        handler = logging.FileHandler(run.log, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        logger.addHandler(handler)
    else:
        logger.addHandler(logging.NullHandler())
    return logger


def close_logger(logger: logging.Logger) -> None:
    for h in list(logger.handlers):
        h.close()
        logger.removeHandler(h)


def code_version() -> str:
    """``git describe --always --dirty`` of the source tree, else the package version."""
    root = Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty", "--tags"], cwd=root,
                             capture_output=True, text=True, timeout=5, check=True)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        try:
            from importlib.metadata import version

            return version("volta-studio")
        except Exception:  # not installed
            return "unknown"
