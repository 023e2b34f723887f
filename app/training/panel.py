"""The training dock: the "New job" form and the job list on the left, the selected job on the right.

Launching goes through :class:`JobManager` (a detached process per job); this widget only
connects the form, the list and the job view to it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtWidgets import (
    QDockWidget,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QScrollArea,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.dialogs import show_message_box
from app.jobs.estimate import estimate_epoch_seconds, same_setup
from app.jobs.launch import TASK_TITLES, JobSpec
from app.jobs.locations import RunLocationError
from app.jobs.run_folder import TrainingJob
from app.state.job_config import JobConfigError, resolve
from app.state.job_progress import format_duration
from app.training.job_manager import JobManager
from app.training.job_view import STATUS_COLORS, JobView
from app.training.setup_form import SetupForm
from volta_core.config import init_mismatch

TRAINING_ERROR_BOX = "training_error_box"


def show_training_error(parent: QWidget, title: str, message: str, details: str = "") -> QMessageBox:
    """A non-blocking warning box (tests find it by its object name)."""
    return show_message_box(parent, title, message, details, object_name=TRAINING_ERROR_BOX)


class TrainingPanel(QDockWidget):
    """Dock "Training". Signals ``launched(TrainingJob)`` and ``refused(str)`` (tests wait on them), and
    ``notice(str)``: a message about a job worth a note in the status bar."""

    launched = pyqtSignal(object)
    refused = pyqtSignal(str)
    notice = pyqtSignal(str)

    def __init__(self, manager: JobManager, parent: QWidget | None = None) -> None:
        super().__init__("Training", parent)
        self.setObjectName("training_panel")
        self.manager = manager
        self._pending_launch = False
        split = QSplitter(Qt.Orientation.Horizontal, self)
        self.tabs = QTabWidget(split)
        self.form = SetupForm()
        self.form.set_estimator(self._estimate)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.tabs.setMinimumWidth(420)
        scroll.setWidget(self.form)
        self.tabs.addTab(scroll, "New job")
        jobs_page = QWidget()
        jobs_layout = QVBoxLayout(jobs_page)
        jobs_layout.setContentsMargins(2, 2, 2, 2)
        self.job_list = QListWidget(jobs_page)
        self.job_list.setObjectName("job_list")
        self.job_list.currentItemChanged.connect(self._on_job_selected)
        jobs_layout.addWidget(self.job_list)
        self.tabs.addTab(jobs_page, "Jobs")
        self.view = JobView(split)
        split.addWidget(self.tabs)
        split.addWidget(self.view)
        split.setStretchFactor(0, 2)
        split.setStretchFactor(1, 3)
        split.setSizes([460, 840])
        self.setWidget(split)
        self.form.launch_requested.connect(self.launch)
        self.form.validator.checked.connect(self._on_checked)
        self.view.stop_requested.connect(lambda jid: self._act(jid, manager.stop))
        self.view.kill_requested.connect(lambda jid: self._act(jid, manager.kill))
        self.view.resume_requested.connect(self._resume)
        self.view.delete_requested.connect(self._delete)
        manager.jobs_changed.connect(self.refresh_list)
        manager.job_updated.connect(self._on_job_updated)
        manager.notice.connect(self._on_notice)
        self._notices: dict[str, str] = {}
        self.refresh_list()
        if manager.jobs:
            self.tabs.setCurrentIndex(1)
            self.select_job(manager.jobs[-1].id)

    # launching ----------------------------------------------------------------------------------
    def launch(self) -> None:
        """Check the config and the dataset, then queue the job; refuse with every problem listed."""
        form = self.form
        spec = form.spec()
        try:
            text = form.composed_text()
            cfg = resolve(spec.task, text, spec.overrides, spec.init)
        except JobConfigError as exc:
            self._refuse("The training config is not valid", str(exc))
            return
        if spec.init:
            problem = init_mismatch(cfg, spec.init)
            if problem:
                self._refuse("The starting model does not fit", problem)
                return
        if spec.kind == "finetune" and not spec.data_path:
            self._refuse("No dataset", "Choose a BIDS folder or a CSV manifest to fine-tune on.")
            return
        if spec.data_path:
            if not Path(spec.data_path).exists():
                self._refuse("Dataset not found", f"{spec.data_path} does not exist.")
                return
            min_per_class = int(getattr(cfg, "min_per_class", 1)) if spec.kind == "finetune" else 1
            check = form.validator.result
            key = (spec.data_path, spec.task, min_per_class)
            if check is None or check.key != key:
                self._pending_launch = True
                form.validate(min_per_class)
                return
            if not check.ok:
                self._refuse("The dataset cannot be used", f"{len(check.problems)} problem(s) found; fix them "
                             f"and launch again.", "\n".join(f"- {p}" for p in check.problems))
                return
        try:
            job = self.manager.submit(spec, text)
        except (RunLocationError, OSError) as exc:
            self._refuse("Cannot start the run", str(exc))
            return
        self.tabs.setCurrentIndex(1)
        self.select_job(job.id)
        self.launched.emit(job)

    def _on_checked(self, _check: Any) -> None:
        if self._pending_launch:
            self._pending_launch = False
            self.launch()

    def _refuse(self, title: str, message: str, details: str = "") -> None:
        self._pending_launch = False
        box = show_training_error(self, title, message, details)
        if details:
            box.setDetailedText(details)
        self.refused.emit(f"{title}: {message}\n{details}".strip())

    def _estimate(self, spec: JobSpec, n_train: int, batch_size: int) -> tuple[float | None, str]:
        """Seconds per epoch as measured on an earlier run with the same setup (never a guess)."""
        try:
            cfg = resolve(spec.task, self.form.composed_text(), spec.overrides, spec.init)
        except JobConfigError:
            return None, "the config is not valid"
        return estimate_epoch_seconds(self.manager.jobs, n_train, batch_size, same_setup(spec, cfg))

    # the job list -------------------------------------------------------------------------------
    def refresh_list(self) -> None:
        selected = self.selected_job_id()
        self.form.refresh_models([(job.name, str(job.run_dir)) for job in self.manager.jobs
                                  if job.spec.kind == "pretrain" and job.status == "finished"])
        self.job_list.blockSignals(True)
        self.job_list.clear()
        for job in reversed(self.manager.jobs):
            item = QListWidgetItem(self._item_text(job))
            item.setData(Qt.ItemDataRole.UserRole, job.id)
            item.setForeground(_color(STATUS_COLORS.get(job.status, "#c8d0da")))
            item.setToolTip(str(job.run_dir))
            self.job_list.addItem(item)
        self.job_list.blockSignals(False)
        if selected:
            self.select_job(selected)
        elif self.view.job is not None and self.manager.job(self.view.job.id) is None:
            self.view.show_job(None)
        else:
            self.view.refresh()

    @staticmethod
    def _item_text(job: TrainingJob) -> str:
        p = job.progress
        extra = f"step {p.step}/{p.total_steps}" if p.total_steps else ""
        eta = p.eta_seconds()
        if job.is_active and eta is not None:
            extra += f", ETA {format_duration(eta)}"
        return f"{job.name}  [{job.status}]  {TASK_TITLES.get(job.spec.task, job.spec.task)}  {extra}".rstrip()

    def selected_job_id(self) -> str | None:
        item = self.job_list.currentItem()
        return str(item.data(Qt.ItemDataRole.UserRole)) if item is not None else None

    def select_job(self, job_id: str) -> None:
        for row in range(self.job_list.count()):
            item = self.job_list.item(row)
            if item is not None and item.data(Qt.ItemDataRole.UserRole) == job_id:
                self.job_list.setCurrentRow(row)
                self.view.show_job(self.manager.job(job_id))
                return

    def item_texts(self) -> list[str]:
        return [self.job_list.item(i).text() for i in range(self.job_list.count())]  # type: ignore[union-attr]

    def _on_job_selected(self, current: QListWidgetItem | None, _previous: object) -> None:
        job_id = current.data(Qt.ItemDataRole.UserRole) if current is not None else None
        self.view.show_job(self.manager.job(job_id) if job_id else None)
        self._show_notice()

    def _on_job_updated(self, job_id: str) -> None:
        job = self.manager.job(job_id)
        if job is None:
            return
        for row in range(self.job_list.count()):
            item = self.job_list.item(row)
            if item is not None and item.data(Qt.ItemDataRole.UserRole) == job_id:
                item.setText(self._item_text(job))
        if self.view.job is job:
            self.view.refresh()
            self._show_notice()

    def _on_notice(self, job_id: str, message: str) -> None:
        self._notices[job_id] = message
        self._show_notice()
        self.notice.emit(message)

    def _show_notice(self) -> None:
        job = self.view.job
        if job is not None and job.id in self._notices and not job.error:
            self.view.error_label.setText(self._notices[job.id])
            self.view.error_label.show()

    # actions ------------------------------------------------------------------------------------
    def _act(self, job_id: str, action: Any) -> None:
        job = self.manager.job(job_id)
        if job is not None:
            action(job)
            self.view.refresh()

    def _resume(self, job_id: str) -> None:
        job = self.manager.job(job_id)
        if job is None:
            return
        try:
            self.manager.resume(job)
        except (RunLocationError, OSError) as exc:
            self._refuse("Cannot resume the run", str(exc))
            return
        self.view.refresh()

    def _delete(self, job_id: str) -> None:
        job = self.manager.job(job_id)
        if job is None:
            return
        answer = QMessageBox.question(self, "Delete run", f"Delete the run folder {job.run_dir}?\n"
                                      "A model it added to the registry stays there.")
        if answer == QMessageBox.StandardButton.Yes:
            self.manager.forget(job)

    def disconnect_models(self) -> None:
        """Called when the window closes: jobs keep running, this panel stops following them."""
        self.manager.jobs_changed.disconnect(self.refresh_list)
        self.manager.job_updated.disconnect(self._on_job_updated)
        self.manager.notice.disconnect(self._on_notice)
        self.form.validator.shutdown()


def _color(text: str) -> Any:
    from PyQt6.QtGui import QBrush, QColor

    return QBrush(QColor(text))


