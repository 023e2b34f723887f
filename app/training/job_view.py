"""One job in detail: status, step, throughput, ETA, curves, the log's tail; Stop / Kill / Resume."""

from __future__ import annotations

from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtGui import QFont
from PyQt6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from app.state.job_progress import format_duration
from app.jobs.launch import TASK_TITLES
from app.jobs.run_folder import TrainingJob
from app.training.curves import CurvesView

STATUS_COLORS = {"running": "#81c784", "starting": "#81c784", "stopping": "#ffb74d", "queued": "#90a4ae",
                 "finished": "#4fc3f7", "stopped": "#ffb74d", "failed": "#e57373", "cancelled": "#90a4ae"}


class JobView(QWidget):
    """Shows ``job`` (set with :meth:`show_job`); the buttons emit the job's id."""

    stop_requested = pyqtSignal(str)
    kill_requested = pyqtSignal(str)
    resume_requested = pyqtSignal(str)
    delete_requested = pyqtSignal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.job: TrainingJob | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        self.title = QLabel("No job selected", self)
        self.title.setObjectName("job_title")
        self.title.setTextFormat(Qt.TextFormat.RichText)
        layout.addWidget(self.title)
        self.error_label = QLabel(self)
        self.error_label.setObjectName("job_error")
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #e57373;")
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.error_label)
        self.warning_label = QLabel(self)
        self.warning_label.setObjectName("job_warning")
        self.warning_label.setWordWrap(True)
        self.warning_label.setStyleSheet("color: #ffb74d;")
        self.warning_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.warning_label.setVisible(False)
        layout.addWidget(self.warning_label)
        self.bar = QProgressBar(self)
        self.bar.setRange(0, 1000)
        self.bar.setMaximumHeight(16)
        layout.addWidget(self.bar)
        grid = QGridLayout()
        self.stats: dict[str, QLabel] = {}
        for i, key in enumerate(("Step", "Epoch", "Throughput", "ETA", "Time per epoch", "Device")):
            name = QLabel(f"{key}:", self)
            name.setStyleSheet("color: #7b8591;")
            value = QLabel("-", self)
            value.setObjectName(f"job_{key.lower().replace(' ', '_')}")
            self.stats[key] = value
            grid.addWidget(name, i // 3, (i % 3) * 2)
            grid.addWidget(value, i // 3, (i % 3) * 2 + 1)
        layout.addLayout(grid)
        buttons = QHBoxLayout()
        self.stop_button = QPushButton("Stop", self)
        self.stop_button.setToolTip("Save a checkpoint, then end the run (Resume continues from it)")
        self.kill_button = QPushButton("Kill", self)
        self.kill_button.setToolTip("End the training process at once (progress since the last checkpoint is lost)")
        self.resume_button = QPushButton("Resume", self)
        self.resume_button.setToolTip("Continue from the last checkpoint")
        self.delete_button = QPushButton("Delete run", self)
        self.delete_button.setToolTip("Delete the run folder (a registered model stays in the registry)")
        for button, signal in ((self.stop_button, self.stop_requested), (self.kill_button, self.kill_requested),
                               (self.resume_button, self.resume_requested),
                               (self.delete_button, self.delete_requested)):
            button.clicked.connect(lambda _c=False, s=signal: self.job is not None and s.emit(self.job.id))
            buttons.addWidget(button)
        buttons.addStretch(1)
        layout.addLayout(buttons)
        split = QSplitter(Qt.Orientation.Vertical, self)
        self.curves = CurvesView(split)
        self.log = QPlainTextEdit(split)
        self.log.setObjectName("job_log")
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(200)
        self.log.setFont(QFont("monospace", 8))
        self.log.setPlaceholderText("The run's log appears here.")
        split.addWidget(self.curves)
        split.addWidget(self.log)
        split.setStretchFactor(0, 5)
        split.setStretchFactor(1, 1)
        split.setSizes([500, 80])
        layout.addWidget(split, 1)
        self.show_job(None)

    def show_job(self, job: TrainingJob | None) -> None:
        """Show ``job`` from scratch (None: nothing selected)."""
        self.job = job
        self.refresh()

    def refresh(self) -> None:
        """Re-read the shown job's progress into the labels, curves and log."""
        job = self.job
        if job is None:
            self.title.setText("<i>No job selected: launch one or pick one in the list.</i>")
            self.error_label.hide()
            self.warning_label.hide()
            self.bar.setValue(0)
            for label in self.stats.values():
                label.setText("-")
            self.curves.show_progress(None)
            self.log.setPlainText("")
            for button in (self.stop_button, self.kill_button, self.resume_button, self.delete_button):
                button.setEnabled(False)
            return
        p = job.progress
        color = STATUS_COLORS.get(job.status, "#c8d0da")
        spec = job.spec
        self.title.setText(f"<b>{job.name}</b> &nbsp; {TASK_TITLES.get(spec.task, spec.task)} &nbsp; "
                           f"<span style='color:{color}'><b>{job.status}</b></span>")
        self.error_label.setText(job.error)
        self.error_label.setVisible(bool(job.error))
        self.warning_label.setText("\n".join(f"Warning: {w}" for w in p.warnings[-3:]))
        self.warning_label.setVisible(bool(p.warnings))
        self.bar.setValue(round(p.fraction * 1000))
        self.bar.setFormat(f"{p.fraction * 100:.0f} %")
        self.stats["Step"].setText(f"{p.step} / {p.total_steps or '?'}")
        self.stats["Epoch"].setText(str(p.epoch))
        self.stats["Throughput"].setText(f"{p.volumes_per_s:.2f} volumes/s" if p.volumes_per_s else "-")
        self.stats["ETA"].setText(format_duration(p.eta_seconds()) if job.is_active else "-")
        epoch_s, how = p.epoch_seconds()
        self.stats["Time per epoch"].setText("-" if epoch_s is None else format_duration(epoch_s)
                                             + ("" if how == "measured" else " (projected from the steps so far)"))
        self.stats["Device"].setText(p.device or spec.device)
        self.curves.show_progress(p)
        text = job.log_tail(12)
        if text != self.log.toPlainText():
            self.log.setPlainText(text)
            self.log.verticalScrollBar().setValue(self.log.verticalScrollBar().maximum())
        self.stop_button.setEnabled(job.is_active or job.status == "queued")
        self.kill_button.setEnabled(job.is_active and bool(job.pid))
        self.resume_button.setEnabled(job.can_resume)
        self.delete_button.setEnabled(not job.is_active)

