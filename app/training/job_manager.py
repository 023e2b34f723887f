"""Launch, queue and follow training jobs: detached processes, followed with a timer.

No thread: a ``QTimer`` polls each active job's ``metrics.jsonl`` (only the new bytes) and its
process. Jobs run one at a time by default (a CPU has no room for two); the others wait in the
queue, which lives in their ``job.json`` so it survives closing the app.
"""

from __future__ import annotations

import time
from pathlib import Path

from PyQt6.QtCore import (
    QIODevice,
    QObject,
    QProcess,
    QProcessEnvironment,
    QTimer,
    pyqtSignal,
)

from app.jobs.launch import STDERR_LOG, STDOUT_LOG, JobSpec, default_threads, launch_environment
from app.jobs.locations import MIN_FREE_BYTES, RunLocationError, check_run_location, free_bytes, user_runs_dir
from app.jobs.processes import kill_process, start_token
from app.jobs.registry import RegistryError, register_bundle
from app.jobs.run_folder import TrainingJob, scan_runs


class JobManager(QObject):
    """All jobs of one runs folder.

    Signals:
        jobs_changed(): a job was added or removed, or its status changed.
        job_updated(str): new progress for the job with this id.
        model_registered(Path): a finished job's model was copied into the model folder.
        notice(str, str): ``(job id, message)`` worth telling the user (disk filling up, copy failed).
    """

    jobs_changed = pyqtSignal()
    job_updated = pyqtSignal(str)
    model_registered = pyqtSignal(object)
    notice = pyqtSignal(str, str)

    def __init__(self, runs_dir: Path | None = None, parent: QObject | None = None, poll_ms: int = 500,
                 max_running: int = 1) -> None:
        super().__init__(parent)
        self.runs_dir = Path(runs_dir) if runs_dir is not None else user_runs_dir()
        self.max_running = max_running
        self.jobs: list[TrainingJob] = []
        self._disk_checked = 0.0
        self._timer = QTimer(self)
        self._timer.setInterval(poll_ms)
        self._timer.timeout.connect(self.poll)
        self.rescan()
        self._timer.start()

    # listing ------------------------------------------------------------------------------------
    def rescan(self) -> None:
        """Re-read the runs folder: re-attach to running jobs, list finished and failed ones."""
        self.jobs = scan_runs(self.runs_dir)
        for job in self.jobs:
            self._register_if_finished(job)
        self._pump()
        self.jobs_changed.emit()

    def job(self, job_id: str) -> TrainingJob | None:
        return next((j for j in self.jobs if j.id == job_id), None)

    def running(self) -> list[TrainingJob]:
        return [j for j in self.jobs if j.is_active]

    # actions ------------------------------------------------------------------------------------
    def submit(self, spec: JobSpec, config_text: str) -> TrainingJob:
        """Queue a new job (it starts at once if nothing else runs).

        Raises:
            RunLocationError: the runs folder is not writable or the disk is nearly full.
        """
        check_run_location(self.runs_dir)
        job = TrainingJob.create(self.runs_dir, spec, config_text)
        self.jobs.append(job)
        self._pump()
        self.jobs_changed.emit()
        return job

    def stop(self, job: TrainingJob) -> None:
        """Checkpoint, then exit (a queued job is just taken out of the queue)."""
        if job.status == "queued":
            job.mark_cancelled()
        elif job.is_active:
            job.request_stop()
            job.poll()
        self.jobs_changed.emit()

    def kill(self, job: TrainingJob) -> None:
        """End the process now (no checkpoint beyond the last one)."""
        if job.pid and job.is_active:
            job.mark_killed()
            kill_process(job.pid)
        self.poll()

    def resume(self, job: TrainingJob) -> None:
        """Continue from the last checkpoint (queued if another job runs).

        Raises:
            RunLocationError: the run folder is not writable or the disk is nearly full.
        """
        if not job.can_resume:
            return
        check_run_location(job.run_dir)
        job.info["resume"] = True
        job.mark_queued()
        self._pump()
        self.jobs_changed.emit()

    def forget(self, job: TrainingJob) -> None:
        """Delete a job that is not running, and its run folder."""
        if job.is_active:
            return
        import shutil

        shutil.rmtree(job.run_dir, ignore_errors=True)
        self.jobs = [j for j in self.jobs if j is not job]
        self.jobs_changed.emit()

    def shutdown(self) -> None:
        """Stop following jobs (they keep running: a later session re-attaches)."""
        self._timer.stop()

    # following ----------------------------------------------------------------------------------
    def poll(self) -> None:
        changed_status = False
        for job in self.jobs:
            if not job.is_active:
                continue
            before = job.status
            if job.poll():
                self.job_updated.emit(job.id)
            if job.status != before:
                changed_status = True
                self._register_if_finished(job)
        if self._pump():
            changed_status = True
        self._check_disk()
        if changed_status:
            self.jobs_changed.emit()

    def _pump(self) -> bool:
        """Start queued jobs while there is room; True if one started."""
        started = False
        for job in self.jobs:
            if len(self.running()) >= self.max_running:
                break
            if job.status == "queued":
                self._launch(job)
                started = True
        return started

    def _launch(self, job: TrainingJob) -> None:
        resume = bool(job.info.get("resume")) or job.checkpoint.exists()
        (job.run_dir / "STOP").unlink(missing_ok=True)  # an old Stop request must not stop the new launch
        command = job.command(resume=resume)
        spec = job.spec
        threads = spec.threads or default_threads()
        process = QProcess()
        process.setProgram(command[0])
        process.setArguments(command[1:])
        process.setWorkingDirectory(str(job.run_dir))
        process.setStandardOutputFile(str(job.run_dir / STDOUT_LOG), QIODevice.OpenModeFlag.Append)
        process.setStandardErrorFile(str(job.run_dir / STDERR_LOG), QIODevice.OpenModeFlag.Append)
        env = QProcessEnvironment.systemEnvironment()
        for name, value in launch_environment(threads).items():
            env.insert(name, value)
        process.setProcessEnvironment(env)
        launched = time.time()
        ok, pid = process.startDetached()
        if not ok or not pid:
            job.mark_launched(command, 0, None, launched)
            job.info["error"] = f"Could not start {command[0]}: {process.errorString()}"
            job.save()
            job.poll()
            return
        job.mark_launched(command, int(pid), start_token(int(pid)), launched)

    def _register_if_finished(self, job: TrainingJob) -> None:
        """Copy a finished fine-tune's bundle into the model folder (once)."""
        if job.status != "finished" or job.spec.kind != "finetune" or job.info.get("model"):
            return
        if not job.bundle.is_dir():
            return
        try:
            path = register_bundle(job.bundle, job.name, source_run=str(job.run_dir))
        except RegistryError as exc:
            self.notice.emit(job.id, str(exc))
            return
        job.info["model"] = str(path)
        job.save()
        self.model_registered.emit(path)

    def _check_disk(self) -> None:
        """Every 10 s while a job runs: warn before the disk fills up."""
        now = time.monotonic()
        if now - self._disk_checked < 10 or not self.running():
            return
        self._disk_checked = now
        free = free_bytes(self.runs_dir)
        if free is not None and free < MIN_FREE_BYTES:
            for job in self.running():
                self.notice.emit(job.id, f"The disk is nearly full ({free / 2**20:.0f} MB free): the run will fail "
                                         f"when it cannot write its checkpoint. Free some space.")


__all__ = ["JobManager", "RunLocationError"]
