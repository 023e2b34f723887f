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
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from app.jobs.failures import explain_failed_event, explain_failure
from app.jobs.launch import JOB_CONFIG, STDERR_LOG, JobSpec, volta_args, volta_command
from app.jobs.processes import process_alive
from app.state.job_progress import TERMINAL_EVENTS, JobProgress, MetricsTail

JOB_FILE = "job.json"
ACTIVE_STATUSES = ("starting", "running", "stopping")
DONE_STATUSES = ("finished", "stopped", "failed", "cancelled")


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
            return kind, explain_failed_event(terminal) if kind == "failed" else ""
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


def scan_runs(runs_dir: Path) -> list[TrainingJob]:
    """Every job found in ``runs_dir`` (oldest first)."""
    folder = Path(runs_dir)
    if not folder.is_dir():
        return []
    jobs = [job for path in sorted(folder.iterdir()) if (path / JOB_FILE).is_file()
            if (job := TrainingJob.load(path)) is not None]
    return sorted(jobs, key=lambda j: float(j.info.get("created", 0.0) or 0.0))
