"""What a training job is (:class:`JobSpec`) and the command and environment that launch it: a
separate, detached process of this very app running the same engine as ``volta finetune`` /
``volta pretrain``."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

JOB_CONFIG = "job_config.yaml"
STDOUT_LOG = "stdout.log"
STDERR_LOG = "stderr.log"

TASK_TITLES = {
    "pretrain": "Self-supervised pretraining",
    "seg": "Fine-tune segmentation",
    "sex": "Fine-tune sex",
    "ad": "Fine-tune AD vs. control",
}


def volta_command(volta_args: list[str], *, frozen: bool | None = None, executable: str | None = None) -> list[str]:
    """The command that runs ``volta <volta_args>`` in a new process of this very app.

    From a source install that is ``python -m app --volta-cli ...``; in a frozen (PyInstaller)
    app there is no Python, so the app's own executable takes the hidden ``--volta-cli`` flag.
    """
    frozen = bool(getattr(sys, "frozen", False)) if frozen is None else frozen
    exe = executable or sys.executable
    if frozen:
        # on Windows the windowed exe has no stdout: use its console twin for the engine
        console = Path(exe).with_name("volta-studio.exe")
        if sys.platform == "win32" and console.is_file():
            exe = str(console)
        return [exe, "--volta-cli", *volta_args]
    return [exe, "-m", "app", "--volta-cli", *volta_args]


def default_threads(cpus: int | None = None) -> int:
    """Threads for a training process: all cores but one, so the GUI stays responsive."""
    cpus = cpus if cpus is not None else (os.cpu_count() or 1)
    return max(1, cpus - 1)


@dataclass
class JobSpec:
    """What to train. ``task`` is ``pretrain`` or a fine-tuning task (``seg``, ``sex``, ``ad``)."""

    task: str
    data_path: str = ""
    init: str = ""
    name: str = ""
    device: str = "auto"
    threads: int = 0  # 0: default_threads()
    overrides: list[str] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return "pretrain" if self.task == "pretrain" else "finetune"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobSpec:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def volta_args(spec: JobSpec, run_dir: Path, *, resume: bool) -> list[str]:
    """``volta`` arguments of a job (the config in ``job_config.yaml``; device and threads on top)."""
    args = [spec.kind]
    if spec.kind == "finetune":
        args += ["--task", spec.task, "--data", spec.data_path]
    if spec.init:
        args += ["--init", spec.init]
    args += ["--config", str(run_dir / JOB_CONFIG), "--out", str(run_dir)]
    if resume:
        args.append("--resume")
    threads = spec.threads or default_threads()
    return args + [f"device={spec.device}", f"threads={threads}", *spec.overrides]




def launch_environment(threads: int) -> dict[str, str]:
    """Environment variables a training process gets on top of the app's: its thread count (the GUI
    keeps the remaining core(s)) and unbuffered output, so its logs are current."""
    env = {name: str(threads) for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    env["PYTHONUNBUFFERED"] = "1"
    return env
