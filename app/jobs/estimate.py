"""How long an epoch will take, from the runs already made with the same setup (never a guess)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app.jobs.launch import JobSpec
from app.jobs.run_folder import TrainingJob
from app.state.job_config import get_value


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


def same_setup(spec: JobSpec, cfg: Any) -> Callable[[TrainingJob], bool]:
    """Whether an earlier job ran ``spec`` with the resolved config ``cfg``'s model and data grid
    on the same device and threads (only such a run's times say anything about this one)."""

    def same(job: TrainingJob) -> bool:
        config = (job.progress.started or {}).get("config") or {}
        other = job.spec
        return (other.kind == spec.kind and other.device == spec.device
                and (other.threads or 0) == (spec.threads or 0)
                and (spec.kind == "pretrain" or (other.task == "seg") == (spec.task == "seg"))
                and get_value(config, "model.encoder") == cfg.model.encoder
                and get_value(config, "model.overrides") == cfg.model.overrides
                and get_value(config, "data.size") == cfg.data.size
                and get_value(config, "data.space") == cfg.data.space)

    return same
