"""Run folders: ``config.yaml``, ``metrics.jsonl``, ``train.log``, ``checkpoints/``, ``bundle/``."""

from __future__ import annotations

import logging
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from volta_core.config import ConfigError, load_config, save_config, to_dict
from volta_core.contracts.events import METRICS_FILE

CHECKPOINT_NAME = "last.pt"

#: settings that say how a run is executed, not what it computes: ``--resume`` may change them
#: (they are used for this session only; ``config.yaml`` keeps the run's own values)
RESUME_OVERRIDABLE = ("device", "threads", "log_every", "checkpoint_every", "data.num_workers", "data.cache")


@dataclass(frozen=True)
class RunFolder:
    """Paths of one training run."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def metrics(self) -> Path:
        return self.root / METRICS_FILE

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

    A resume never rewrites ``config.yaml``: the checkpoint was trained with it. Overrides that
    would change what the run computes are refused (see :func:`check_resume_config`).

    Raises:
        FileExistsError: a fresh run would overwrite a folder that already has a checkpoint.
        ConfigError: a resume asks for settings that differ from the run's ``config.yaml``.
    """
    run = RunFolder(Path(root))
    resuming = resume and run.config.is_file()
    if resuming:
        check_resume_config(cfg, run.config)
    if is_main:
        run.root.mkdir(parents=True, exist_ok=True)
        if not resume and run.checkpoint.exists():
            raise FileExistsError(f"{run.root} already holds a run: resume it with --resume or choose another --out")
        if resume:
            run.stop_file.unlink(missing_ok=True)
        if not resuming:
            save_config(cfg, run.config)
    return run


def _flat(data: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(data, dict) or (not data and prefix):
        return {prefix[:-1]: data}
    out: dict[str, Any] = {}
    for key, value in data.items():
        out.update(_flat(value, f"{prefix}{key}."))
    return out


def check_resume_config(cfg: Any, saved_path: Path) -> None:
    """Refuse a resume whose config differs from the run's own beyond :data:`RESUME_OVERRIDABLE`.

    Raises:
        ConfigError: naming each changed key with the run's and the requested value.
    """
    saved = _flat(to_dict(load_config(type(cfg), saved_path)))
    asked = _flat(to_dict(cfg))
    changed = [k for k in sorted(set(saved) | set(asked))
               if saved.get(k) != asked.get(k) and k not in RESUME_OVERRIDABLE]
    if changed:
        diffs = "; ".join(f"{k}: run has {saved.get(k)!r}, asked {asked.get(k)!r}" for k in changed[:6])
        raise ConfigError(f"--resume cannot change the settings of the run in {saved_path.parent} ({diffs}): "
                          f"its checkpoint was trained with {saved_path.name}, which stays as it is. Resume without "
                          f"these overrides (only {', '.join(RESUME_OVERRIDABLE)} may change), or start a new run "
                          "with another --out")


class _BestEffortFileHandler(logging.FileHandler):
    """``train.log`` is best effort: on a full disk a failed write must not print a traceback
    (logging's default); the events already report the failure."""

    def handleError(self, record: logging.LogRecord) -> None:
        pass


def make_logger(run: RunFolder, is_main: bool, name: str) -> logging.Logger:
    """A logger writing human-readable lines to ``train.log`` (rank 0; silent elsewhere)."""
    logger = logging.getLogger(f"volta.train.{name}.{run.root}")
    logger.handlers.clear()
    logger.propagate = False
    logger.setLevel(logging.INFO)
    if is_main:
        handler = _BestEffortFileHandler(run.log, encoding="utf-8")
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
