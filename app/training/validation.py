"""Check a dataset in a worker thread (``volta_core.data.validate``: nibabel, no torch) and word
the report for the panel: counts per class, subjects, every problem found."""

from __future__ import annotations

from dataclasses import dataclass

from PyQt6.QtCore import QObject, pyqtSignal

from app.workers.task_worker import TaskWorker


@dataclass(frozen=True)
class DatasetCheck:
    """What was checked (the key a launch compares against) and what was found."""

    path: str
    task: str
    min_per_class: int
    ok: bool
    text: str
    problems: tuple[str, ...]
    n_samples: int
    class_counts: dict[str, int]
    #: the structures the masks label (``seg``; empty otherwise)
    mask_structures: tuple[str, ...] = ()

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.path, self.task, self.min_per_class)


def check_dataset(path: str, task: str, min_per_class: int) -> DatasetCheck:
    """Validate ``path`` for ``task`` (reads every file; seconds for a small dataset)."""
    from volta_core.data.validate import mask_structures, validate_dataset

    report = validate_dataset(path, task, min_per_class=min_per_class)
    problems = tuple(f"{p.kind}: {p.subject + ': ' if p.subject else ''}{p.message}"
                     + (f" [{p.path}]" if p.path else "") for p in report.problems)
    subjects = sorted({r.subject for r in report.dataset.records}) if report.dataset is not None else []
    shown = ", ".join(subjects[:30]) + (f" ... (+{len(subjects) - 30})" if len(subjects) > 30 else "")
    counts = ", ".join(f"{k}: {v}" for k, v in sorted(report.class_counts.items())) or "-"
    lines = [f"{report.n_samples} scans, {len(subjects)} subjects; per class: {counts}",
             f"Subjects: {shown or '-'}"]
    labelled = tuple(mask_structures(report.mask_labels)) if task == "seg" and report.mask_labels else ()
    if labelled:
        # what a fine-tune learns from these masks (the form adds what happens to a starting model's others)
        lines.append("Masks label: " + ", ".join(s.replace("_", " ") for s in labelled) + " (left and right)")
    if report.ok:
        lines.append("No problems found: ready to train.")
    else:
        lines.append(f"{len(problems)} problem(s):")
        lines += [f"  - {p}" for p in problems]
    return DatasetCheck(path, task, min_per_class, report.ok, "\n".join(lines), problems, report.n_samples,
                        dict(report.class_counts), labelled)


class DatasetValidator(QObject):
    """Runs one check at a time; a newer request supersedes (ignores) an older one's result.

    Signals:
        checked(DatasetCheck): the current request's result.
    """

    checked = pyqtSignal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.result: DatasetCheck | None = None
        self._wanted: tuple[str, str, int] | None = None
        self._workers: set[TaskWorker] = set()

    @property
    def busy(self) -> bool:
        return self._wanted is not None and (self.result is None or self.result.key != self._wanted)

    def request(self, path: str, task: str, min_per_class: int) -> None:
        key = (path, task, min_per_class)
        if self.result is not None and self.result.key == key:
            self.checked.emit(self.result)
            return
        self._wanted = key
        worker = TaskWorker(lambda: check_dataset(path, task, min_per_class))
        worker.done.connect(lambda result, w=worker: self._on_done(w, result))
        worker.failed.connect(lambda exc, w=worker, k=key: self._on_failed(w, k, exc))
        self._workers.add(worker)
        worker.start()

    def _on_done(self, worker: TaskWorker, result: DatasetCheck) -> None:
        self._forget(worker)
        if result.key == self._wanted:
            self.result = result
            self.checked.emit(result)

    def _on_failed(self, worker: TaskWorker, key: tuple[str, str, int], error: BaseException) -> None:
        self._forget(worker)
        if key == self._wanted:
            message = f"unreadable: could not check the dataset: {type(error).__name__}: {error}"
            self.result = DatasetCheck(key[0], key[1], key[2], False, message, (message,), 0, {})
            self.checked.emit(self.result)

    def _forget(self, worker: TaskWorker) -> None:
        worker.wait(1000)
        self._workers.discard(worker)
        worker.deleteLater()

    def shutdown(self) -> None:
        """Wait for running checks (reading files cannot be interrupted)."""
        self._wanted = None
        for worker in list(self._workers):
            worker.wait(30_000)
