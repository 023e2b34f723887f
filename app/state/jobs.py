"""Training jobs as the app sees them: a run folder with a ``job.json`` beside the engine's files.

A job is started as a separate, detached OS process running the same engine as ``volta
finetune`` / ``volta pretrain`` (:func:`volta_command`), so it outlives the window and the app.
Everything about it lives in its run folder, which is what lets a later session of the app
re-attach to it:

- ``job.json`` (written here): the spec, the command, ``pid`` + start token, ``state``
  (``queued`` / ``launched`` / ``cancelled``), the time of the last launch, the registered model;
- ``job_config.yaml`` (written here): the full config the engine is given (``--config``);
- ``metrics.jsonl``, ``train.log``, ``checkpoints/last.pt``, ``bundle/`` (written by the engine);
- ``stdout.log``, ``stderr.log``: the process's output streams.

A job's status comes from the events of its latest launch and whether its process still runs:
a process that is gone without a ``finished`` / ``stopped`` / ``failed`` event has failed
(killed, out of memory, crashed) and the tail of ``stderr.log`` says why.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from app.state.job_progress import TERMINAL_EVENTS, JobProgress, MetricsTail
from app.state.model_catalog import APP_NAME
from app.state.processes import process_alive
from volta_core.contracts.resources import configs_dir

#: Point this at a folder to keep training runs there (tests use a temporary one).
RUNS_ENV = "VOLTA_RUNS_DIR"
JOB_FILE = "job.json"
JOB_CONFIG = "job_config.yaml"
STDOUT_LOG = "stdout.log"
STDERR_LOG = "stderr.log"
#: Below this much free space a run is refused (checkpoints and bundles are tens of MB).
MIN_FREE_BYTES = 300 * 2**20

TASK_TITLES = {
    "pretrain": "Self-supervised pretraining",
    "seg": "Fine-tune segmentation",
    "sex": "Fine-tune sex",
    "ad": "Fine-tune AD vs. control",
}
#: Base config file per task (in ``configs/``); the form's values and the editor go on top.
TASK_CONFIGS = {"pretrain": "pretrain_tiny.yaml", "seg": "finetune_seg_tiny.yaml",
                "sex": "finetune_cls_tiny.yaml", "ad": "finetune_cls_tiny.yaml"}
ACTIVE_STATUSES = ("starting", "running", "stopping")
DONE_STATUSES = ("finished", "stopped", "failed", "cancelled")


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


def new_run_dir(runs_dir: Path, task: str, now: float | None = None) -> Path:
    """``<runs>/<task>-YYYYmmdd-HHMMSS`` (``-2``, ``-3`` ... if taken)."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    base = Path(runs_dir) / f"{task}-{stamp}"
    path, n = base, 2
    while path.exists():
        path, n = base.with_name(f"{base.name}-{n}"), n + 1
    return path


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write JSON via a temporary file and a rename, so a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=1, default=str), encoding="utf-8")
    os.replace(tmp, path)


def tail_text(path: Path, lines: int = 20, max_bytes: int = 32_000) -> str:
    """The last ``lines`` lines of a text file ("" if missing)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - max_bytes))
            data = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(data.splitlines()[-lines:])


def explain_failure(stderr_tail: str, killed: bool = False) -> str:
    """A sentence for a process that ended without a ``finished``/``stopped``/``failed`` event."""
    if killed:
        return "Killed from the training panel. Resume continues from the last checkpoint."
    text = stderr_tail.strip()
    low = text.lower()
    if "no space left" in low or "errno 28" in low:
        return "The disk is full: the run could not write its files. Free some space, then Resume."
    if "out of memory" in low or "memoryerror" in low:
        return ("Out of memory. Lower batch_size or data.size (or close other programs), then Resume.\n"
                + _last_line(text))
    if "permission denied" in low or "read-only file system" in low:
        return "The run folder cannot be written (permission denied or read-only). " + _last_line(text)
    if text:
        return _last_line(text)
    return ("The training process ended without reporting why: it was killed (by another program, "
            "or by the system when memory ran out). Resume continues from the last checkpoint.")


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower()]
    return (errors or lines or [""])[-1]


class TrainingJob:
    """One run folder the panel lists (see the module docstring for the files involved).

    Args:
        run_dir: the run folder.
        info: the contents of its ``job.json``.
    """

    def __init__(self, run_dir: Path, info: dict[str, Any]) -> None:
        self.run_dir = Path(run_dir)
        self.info = info
        self.progress = JobProgress()
        self._tail = MetricsTail(self.run_dir / "metrics.jsonl")
        self._attempt_started: dict[str, Any] | None = None
        self._attempt_terminal: dict[str, Any] | None = None
        self.status = "queued" if info.get("state") == "queued" else "starting"
        self.error = ""

    # files --------------------------------------------------------------------------------------
    @classmethod
    def create(cls, runs_dir: Path, spec: JobSpec, config_text: str) -> TrainingJob:
        """A new queued job: its run folder, ``job_config.yaml`` and ``job.json``."""
        run_dir = new_run_dir(runs_dir, spec.task)
        run_dir.mkdir(parents=True)
        (run_dir / JOB_CONFIG).write_text(config_text, encoding="utf-8")
        name = spec.name or run_dir.name
        spec = JobSpec.from_dict({**asdict(spec), "name": name})
        job = cls(run_dir, {"version": 1, "name": name, "spec": asdict(spec), "state": "queued",
                            "created": time.time(), "attempts": 0})
        job.save()
        return job

    @classmethod
    def load(cls, run_dir: Path) -> TrainingJob | None:
        """The job in ``run_dir`` (None if it has no readable ``job.json``), with every event read."""
        try:
            info = json.loads((Path(run_dir) / JOB_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(info, dict) or "spec" not in info:
            return None
        job = cls(Path(run_dir), info)
        job.poll()
        return job

    def save(self) -> None:
        write_json_atomic(self.run_dir / JOB_FILE, self.info)

    # properties ---------------------------------------------------------------------------------
    @property
    def id(self) -> str:
        return self.run_dir.name

    @property
    def name(self) -> str:
        return str(self.info.get("name") or self.run_dir.name)

    @property
    def spec(self) -> JobSpec:
        return JobSpec.from_dict(self.info.get("spec", {}))

    @property
    def pid(self) -> int | None:
        pid = self.info.get("pid")
        return int(pid) if pid else None

    @property
    def checkpoint(self) -> Path:
        return self.run_dir / "checkpoints" / "last.pt"

    @property
    def bundle(self) -> Path:
        return self.run_dir / "bundle"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def can_resume(self) -> bool:
        return self.status in ("stopped", "failed", "cancelled")

    def log_tail(self, lines: int = 12) -> str:
        """The newest lines of ``train.log``, else of ``stderr.log``."""
        return tail_text(self.run_dir / "train.log", lines) or tail_text(self.run_dir / STDERR_LOG, lines)

    # life cycle ---------------------------------------------------------------------------------
    def command(self, *, resume: bool) -> list[str]:
        return volta_command(volta_args(self.spec, self.run_dir, resume=resume))

    def mark_launched(self, command: list[str], pid: int, token: str | None, launched: float) -> None:
        self.info.update(state="launched", command=command, pid=pid, pid_token=token, launched=launched,
                         attempts=int(self.info.get("attempts", 0)) + 1, killed=False)
        self.info.pop("error", None)
        self._attempt_started = self._attempt_terminal = None
        self.status, self.error = "starting", ""
        self.save()

    def mark_queued(self) -> None:
        """Queue again (Resume while another job runs)."""
        self.info.update(state="queued", killed=False)
        self.status, self.error = "queued", ""
        self.save()

    def mark_cancelled(self) -> None:
        self.info["state"] = "cancelled"
        self.status = "cancelled"
        self.save()

    def mark_killed(self) -> None:
        self.info["killed"] = True
        self.save()

    def request_stop(self) -> None:
        """Ask the run to checkpoint and exit (a ``STOP`` file: works after re-attaching too)."""
        (self.run_dir / "STOP").touch()

    def poll(self, alive: Callable[[int | None, str | None], bool] = process_alive) -> bool:
        """Read new events and re-derive the status; True if anything changed."""
        events = self._tail.read_new()
        before = (self.status, self.error, self.progress.n_events)
        launched = float(self.info.get("launched", 0.0) or 0.0)
        for event in events:
            self.progress.feed(event)
            if float(event.get("time", 0.0) or 0.0) >= launched - 1e-3:
                if event.get("event") == "started":
                    self._attempt_started, self._attempt_terminal = event, None
                elif event.get("event") in TERMINAL_EVENTS:
                    self._attempt_terminal = event
        self.status, self.error = self._derive_status(alive)
        return before != (self.status, self.error, self.progress.n_events)

    def _derive_status(self, alive: Callable[[int | None, str | None], bool]) -> tuple[str, str]:
        state = self.info.get("state")
        if state in ("queued", "cancelled"):
            return str(state), ""
        terminal = self._attempt_terminal
        if terminal is not None:
            kind = str(terminal["event"])
            return kind, _terminal_message(terminal) if kind == "failed" else ""
        if alive(self.pid, self.info.get("pid_token")):
            if (self.run_dir / "STOP").exists():
                return "stopping", ""
            return ("running" if self._attempt_started is not None else "starting"), ""
        if not self.pid:  # the process never started
            return "failed", str(self.info.get("error") or "The training process could not be started.")
        message = explain_failure(tail_text(self.run_dir / STDERR_LOG, 30), bool(self.info.get("killed")))
        if self.info.get("error") != message:
            self.info["error"] = message
            self.save()
        return "failed", message


def _terminal_message(event: dict[str, Any]) -> str:
    message = str(event.get("message") or event.get("error") or "the run failed")
    low = message.lower()
    if "out of memory" in low:
        message = "Out of memory. Lower batch_size or data.size, then Resume.\n" + message
    elif "no space left" in low:
        message = "The disk is full. Free some space, then Resume.\n" + message
    return message


def scan_runs(runs_dir: Path) -> list[TrainingJob]:
    """Every job found in ``runs_dir`` (oldest first)."""
    folder = Path(runs_dir)
    if not folder.is_dir():
        return []
    jobs = [job for path in sorted(folder.iterdir()) if (path / JOB_FILE).is_file()
            if (job := TrainingJob.load(path)) is not None]
    return sorted(jobs, key=lambda j: float(j.info.get("created", 0.0) or 0.0))


def training_scans(n_scans: int, val_fraction: float) -> int:
    """How many of ``n_scans`` (one per subject) a fine-tune trains on: the engine holds out fold 0 of
    ``k = min(subjects, round(1 / val_fraction))`` folds, none below two subjects (finetune.split_records)."""
    if val_fraction <= 0 or n_scans < 2:
        return max(n_scans, 0)
    k = min(n_scans, max(2, int(round(1.0 / val_fraction))))
    return n_scans - -(-n_scans // k)


def estimate_epoch_seconds(jobs: list[TrainingJob], n_train: int, batch_size: int,
                           same_setup: Callable[[TrainingJob], bool]) -> tuple[float | None, str]:
    """Seconds per epoch measured on the newest earlier run with the same setup.

    A run that finished an epoch gives its measured epoch time per training scan (its last epoch:
    scans prepared and cached, validation included); a run that only took steps gives its median
    step time per volume. Nothing is guessed: without such a run the answer is ``None``.

    Returns:
        ``(seconds or None, where the figure comes from)``.
    """
    for job in reversed(jobs):
        if not same_setup(job):
            continue
        progress = job.progress
        started = progress.started or {}
        old_train = int(started.get("n_train") or 0)
        if progress.epoch_s and old_train > 0:
            return progress.epoch_s[-1] / old_train * max(n_train, 1), f"measured on {job.name}"
        per_step = progress.seconds_per_step()
        if per_step is None:
            continue
        old_batch = int(((started.get("config") or {}).get("batch_size")) or batch_size or 1)
        per_volume = per_step / max(old_batch, 1)
        return per_volume * max(n_train, 1), f"measured on {job.name}"
    return None, "measured once a run with this setup has taken its first steps"
