"""Where training runs and shipped configs live, and whether a folder can take a run."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from app.state.model_catalog import APP_NAME
from volta_core.contracts.resources import configs_dir

#: Point this at a folder to keep training runs there (tests use a temporary one).
RUNS_ENV = "VOLTA_RUNS_DIR"
#: Below this much free space a run is refused (checkpoints and bundles are tens of MB).
MIN_FREE_BYTES = 300 * 2**20
#: Base config file per task (in ``configs/``); the form's values and the editor go on top.
TASK_CONFIGS = {"pretrain": "pretrain_tiny.yaml", "seg": "finetune_seg_tiny.yaml",
                "sex": "finetune_cls_tiny.yaml", "ad": "finetune_cls_tiny.yaml"}


class RunLocationError(OSError):
    """The runs folder cannot take a training run (not writable, or the disk is (nearly) full)."""


def user_runs_dir() -> Path:
    """``$VOLTA_RUNS_DIR`` or ``<user data dir>/VolTA-3D Studio/runs``."""
    override = os.environ.get(RUNS_ENV)
    if override:
        return Path(override)
    from platformdirs import user_data_dir

    return Path(user_data_dir(APP_NAME, appauthor=False)) / "runs"


def default_config_text(task: str) -> str:
    """The shipped base config of ``task`` as YAML text (``""`` if it is not shipped)."""
    try:
        return (configs_dir() / TASK_CONFIGS[task]).read_text(encoding="utf-8")
    except OSError:
        return ""


def free_bytes(folder: Path) -> int | None:
    """Free space where ``folder`` is (or would be created), None if unknown."""
    probe = Path(folder)
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        return shutil.disk_usage(probe).free
    except OSError:
        return None


def check_run_location(folder: Path, min_free: int = MIN_FREE_BYTES) -> None:
    """Refuse a runs folder that cannot be written or lacks space, with a message that says what to do.

    Raises:
        RunLocationError: the folder cannot be created or written, or the disk is nearly full.
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test-"):
            pass
    except OSError as exc:
        raise RunLocationError(f"The runs folder {folder} cannot be written ({exc.strerror or exc}). "
                               f"Choose another folder or fix its permissions.") from exc
    free = free_bytes(folder)
    if free is not None and free < min_free:
        raise RunLocationError(f"The disk holding {folder} is nearly full: {free / 2**20:.0f} MB free, a run "
                               f"needs at least {min_free / 2**20:.0f} MB. Free some space or choose another folder.")
