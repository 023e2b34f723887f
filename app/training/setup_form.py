"""The "New job" form: task, dataset (with its validation report), starting model, the main
hyper-parameters, the advanced config editor, device and an estimate of the time per epoch."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from PyQt6.QtCore import QEvent, QObject, Qt, pyqtSignal
from PyQt6.QtGui import QFont
from PyQt6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.devices import DEVICES, available_devices
from app.state.job_config import (
    FINETUNE_KEYS,
    PRETRAIN_KEYS,
    describe_input,
    get_value,
    parse,
    set_values,
    with_init_settings,
)
from app.state.job_progress import format_duration
from app.jobs.estimate import training_scans
from app.jobs.launch import TASK_TITLES, JobSpec, default_threads
from app.jobs.locations import default_config_text
from app.state.model_catalog import available_models
from app.training.validation import DatasetCheck, DatasetValidator

NO_INIT = "None: random initialisation"


class WheelGuard(QObject):
    """Lets a spin box or combo box take the mouse wheel only when it has the keyboard focus, so
    scrolling over the form scrolls the form instead of silently changing a value."""

    def eventFilter(self, watched: QObject | None, event: QEvent | None) -> bool:  # noqa: N802 - Qt API
        if event is not None and event.type() == QEvent.Type.Wheel and isinstance(watched, QWidget) \
                and not watched.hasFocus():
            event.ignore()  # the scroll area above gets it
            return True
        return False


class LearningRateBox(QDoubleSpinBox):
    """A learning rate in scientific notation (``5e-04``): fixed decimals would round 1e-7 to 0.000000.

    Steps multiply or divide by 2 (a learning rate lives on a log scale).
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setDecimals(12)
        self.setRange(0.0, 1.0)  # 0 is shown as what it is; Launch refuses it with a message

    def textFromValue(self, value: float) -> str:  # noqa: N802 - Qt API
        return f"{value:.2e}" if value else "0"

    def valueFromText(self, text: str | None) -> float:  # noqa: N802 - Qt API
        try:
            return float((text or "").strip())
        except ValueError:
            return self.value()

    def validate(self, text: str | None, pos: int) -> tuple[Any, str, int]:
        from PyQt6.QtGui import QValidator

        text = text or ""
        try:
            float(text.strip())
        except ValueError:
            ok = all(c in "0123456789.eE+-" for c in text.strip())
            return (QValidator.State.Intermediate if ok else QValidator.State.Invalid), text, pos
        return QValidator.State.Acceptable, text, pos

    def stepBy(self, steps: int) -> None:  # noqa: N802 - Qt API
        value = self.value() or 1e-4
        self.setValue(min(self.maximum(), value * (2.0 ** steps)))


class SetupForm(QWidget):
    """Builds a :class:`JobSpec` and its config text; ``launch_requested`` when Launch is pressed.

    Attributes:
        validator: checks the dataset whenever the dataset or task changes.
        config_text: the YAML the form's values are applied to (the shipped config, or the
            advanced editor's text).
    """

    launch_requested = pyqtSignal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.validator = DatasetValidator(self)
        self.validator.checked.connect(self._on_checked)
        self.config_text = default_config_text("seg")
        self._estimate_source: Any = None  # callable(spec, n_train, cfg) -> (seconds, source)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(4, 4, 4, 4)
        form = QFormLayout()
        outer.addLayout(form)

        self.task = QComboBox(self)
        self.task.setObjectName("train_task")
        for key, title in TASK_TITLES.items():
            self.task.addItem(title, key)
        self.task.setCurrentIndex(1)  # fine-tune segmentation
        self.task.currentIndexChanged.connect(self._on_task_changed)
        form.addRow("Task:", self.task)

        row = QHBoxLayout()
        self.dataset = QLineEdit(self)
        self.dataset.setObjectName("train_dataset")
        self.dataset.setPlaceholderText("BIDS folder or CSV manifest")
        self.dataset.editingFinished.connect(self.validate)
        folder_button = QPushButton("Folder...", self)
        folder_button.clicked.connect(self._choose_folder)
        csv_button = QPushButton("CSV...", self)
        csv_button.clicked.connect(self._choose_csv)
        lab_button = QPushButton("My training set", self)
        lab_button.setObjectName("train_lab_dataset")
        lab_button.setToolTip("The scans you corrected and added with Training > Add to my training set")
        lab_button.clicked.connect(self._choose_lab_dataset)
        buttons = QHBoxLayout()
        row.addWidget(self.dataset, 1)
        buttons.addWidget(folder_button)
        buttons.addWidget(csv_button)
        buttons.addWidget(lab_button)
        buttons.addStretch(1)
        form.addRow("Dataset:", row)
        form.addRow("", buttons)
        self.report = QPlainTextEdit(self)
        self.report.setObjectName("validation_report")
        self.report.setReadOnly(True)
        self.report.setFont(QFont("monospace", 8))
        self.report.setMaximumHeight(110)
        self.report.setPlaceholderText("Choose a dataset: it is checked here before anything is launched.")
        form.addRow(self.report)

        self.init = QComboBox(self)
        self.init.setObjectName("train_init")
        self.init.activated.connect(self._on_init_activated)
        form.addRow("Starting model:", self.init)
        self.model_input = QLabel("-", self)
        self.model_input.setObjectName("train_model_input")
        self.model_input.setWordWrap(True)
        self.model_input.setToolTip("The encoder and input the run uses. A starting model's own settings are "
                                    "used (its weights only fit them); a key=value override below changes them.")
        form.addRow("Model input:", self.model_input)
        self.refresh_models()
        self.init.currentIndexChanged.connect(self._apply_init)

        self.epochs = QSpinBox(self)
        self.epochs.setObjectName("train_epochs")
        self.epochs.setRange(1, 100_000)
        self.epochs_label = QLabel("Epochs:", self)
        form.addRow(self.epochs_label, self.epochs)
        self.batch_size = QSpinBox(self)
        self.batch_size.setObjectName("train_batch_size")
        self.batch_size.setRange(1, 1024)
        form.addRow("Batch size:", self.batch_size)
        self.lr = LearningRateBox(self)
        self.lr.setObjectName("train_lr")
        form.addRow("Learning rate:", self.lr)
        self.mode = QComboBox(self)
        self.mode.addItem("Full (encoder and head)", "full")
        self.mode.addItem("Linear probe (frozen encoder)", "linear")
        self.mode_label = QLabel("Mode:", self)
        form.addRow(self.mode_label, self.mode)
        self.val_fraction = QDoubleSpinBox(self)
        self.val_fraction.setRange(0.0, 0.5)
        self.val_fraction.setSingleStep(0.05)
        self.val_label = QLabel("Validation fraction:", self)
        form.addRow(self.val_label, self.val_fraction)

        self.device = QComboBox(self)
        self.device.setObjectName("train_device")
        usable = available_devices()
        for key, text in DEVICES:
            if key in usable:
                self.device.addItem(text, key)
        form.addRow("Device:", self.device)
        self.threads = QSpinBox(self)
        self.threads.setRange(1, 256)
        self.threads.setValue(default_threads())
        self.threads.setToolTip("CPU threads of the training process (one core is left for the app)")
        form.addRow("CPU threads:", self.threads)

        advanced = QHBoxLayout()
        self.advanced_button = QPushButton("Advanced config...", self)
        self.advanced_button.setObjectName("train_advanced")
        self.advanced_button.clicked.connect(self.edit_config)
        self.overrides = QLineEdit(self)
        self.overrides.setObjectName("train_overrides")
        self.overrides.setPlaceholderText("extra key=value overrides")
        advanced.addWidget(self.advanced_button)
        advanced.addWidget(self.overrides, 1)
        form.addRow(advanced)
        self.estimate = QLabel("-", self)
        self.estimate.setObjectName("train_estimate")
        self.estimate.setWordWrap(True)
        form.addRow("Time per epoch:", self.estimate)

        self.launch_button = QPushButton("Launch", self)
        self.launch_button.setObjectName("train_launch")
        self.launch_button.setStyleSheet("font-weight: bold;")
        self.launch_button.clicked.connect(self.launch_requested)
        outer.addWidget(self.launch_button)
        outer.addStretch(1)
        for widget in (self.epochs, self.batch_size):
            widget.valueChanged.connect(self.update_estimate)
        self.val_fraction.valueChanged.connect(self.update_estimate)
        self.device.currentIndexChanged.connect(self.update_estimate)
        self._wheel_guard = WheelGuard(self)
        for widget in self.findChildren(QComboBox) + self.findChildren(QSpinBox) + self.findChildren(QDoubleSpinBox):
            widget.setFocusPolicy(Qt.FocusPolicy.StrongFocus)  # the wheel alone never focuses it
            widget.installEventFilter(self._wheel_guard)
        self._load_values()
        self._apply_init()

    # task, dataset, model -------------------------------------------------------------------------
    @property
    def task_key(self) -> str:
        return str(self.task.currentData())

    def set_task(self, task: str) -> None:
        self.task.setCurrentIndex(self.task.findData(task))

    def _on_task_changed(self) -> None:
        self.config_text = default_config_text(self.task_key)
        self._load_values()
        self._apply_init()
        pretrain = self.task_key == "pretrain"
        for widget in (self.mode, self.mode_label, self.val_fraction, self.val_label):
            widget.setEnabled(not pretrain)
        self.epochs_label.setText("Steps:" if pretrain else "Epochs:")
        self.dataset.setPlaceholderText("BIDS folder or CSV manifest (empty: synthetic toy heads)" if pretrain
                                        else "BIDS folder or CSV manifest")
        self.validate()

    def set_dataset(self, path: str | Path) -> None:
        self.dataset.setText(str(path))
        self.validate()

    def _choose_lab_dataset(self) -> None:
        from app.state.lab_dataset import lab_dataset_dir

        self.set_dataset(lab_dataset_dir())

    def offer_dataset(self, path: str | Path, *, init: str | Path | None = None, task: str = "seg") -> None:
        """Fill the form for fine-tuning ``task`` on ``path``, starting from ``init`` (the model in use)."""
        self.set_task(task)
        if init:
            self.set_init(init)
        self.set_dataset(path)

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a BIDS dataset folder")
        if folder:
            self.set_dataset(folder)

    def _choose_csv(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose a CSV manifest", "", "CSV manifest (*.csv *.tsv)")
        if path:
            self.set_dataset(path)

    def refresh_models(self, pretrained_runs: list[tuple[str, str]] | None = None) -> None:
        """List the bundled and local models, and finished pretraining runs ``(name, run folder)``,
        as starting points (keeps the choice)."""
        if pretrained_runs is not None:
            self._pretrained_runs = list(pretrained_runs)
        current = self.init.currentData()
        self.init.clear()
        self.init.addItem(NO_INIT, "")
        for entry in available_models():
            self.init.addItem(entry.label(), str(entry.path))
        for name, path in getattr(self, "_pretrained_runs", []):
            self.init.addItem(f"{name} (pretraining run)", path)
        for path in getattr(self, "_browsed", []):
            self.init.addItem(f"{Path(path).name} (local)", path)
        self.init.addItem("Other bundle or pretraining run...", None)
        if current is None and not hasattr(self, "_init_chosen"):
            # a new form starts from the first bundled model: the lab loop teaches the model it runs
            bundled = [str(e.path) for e in available_models() if e.origin == "bundled"]
            current = bundled[0] if bundled else ""
            self._init_chosen = True
        index = self.init.findData(current) if current else 0
        self.init.setCurrentIndex(max(index, 0))

    def set_init(self, path: str | Path) -> None:
        """Start from the model at ``path`` (added to the list as a local model if it is not there)."""
        path = str(path)
        if self.init.findData(path) < 0:
            self._browsed = [*getattr(self, "_browsed", []), path]
            self.refresh_models()
        self.init.setCurrentIndex(self.init.findData(path))

    @property
    def init_path(self) -> str:
        return str(self.init.currentData() or "")

    def _apply_init(self, *_: Any, restore: bool = True) -> None:
        """Put the starting model's encoder and input settings into the config and show them.

        Args:
            restore: without a starting model, bring back the shipped config's settings (after a
                switch away from a bundle); ``False`` keeps the config text's own.
        """
        init = self.init_path
        switched = init != getattr(self, "_applied_init", None)  # not a mere refresh of the list
        if init or (restore and switched):
            self.config_text = with_init_settings(self.config_text, init, self.task_key,
                                                  default_config_text(self.task_key))
        self._applied_init = init
        data = parse(self.config_text) if self.config_text.strip() else {}
        source = f"from {Path(init).name}'s card" if init else "from the config"
        self.model_input.setText(f"{describe_input(data)} ({source})")
        self.update_estimate()

    def _on_init_activated(self, index: int) -> None:
        if self.init.itemData(index) is None:
            folder = QFileDialog.getExistingDirectory(self, "Choose a model bundle or pretraining run folder")
            if folder:
                self._browsed = [*getattr(self, "_browsed", []), folder]
                self.refresh_models()
                self.init.setCurrentIndex(self.init.findData(folder))
            else:
                self.init.setCurrentIndex(0)

    # config ---------------------------------------------------------------------------------------
    def _keys(self) -> dict[str, str]:
        return PRETRAIN_KEYS if self.task_key == "pretrain" else FINETUNE_KEYS

    def _load_values(self) -> None:
        """Show the config text's main values in the form."""
        data = parse(self.config_text) if self.config_text.strip() else {}
        pretrain = self.task_key == "pretrain"
        self.epochs.setValue(int(get_value(data, "steps" if pretrain else "epochs", 100 if pretrain else 20)))
        self.batch_size.setValue(int(get_value(data, "batch_size", 2)))
        self.lr.setValue(float(get_value(data, "optim.lr", 5e-4)))
        self.mode.setCurrentIndex(max(0, self.mode.findData(get_value(data, "mode", "full"))))
        self.val_fraction.setValue(float(get_value(data, "val_fraction", 0.2)))
        self.update_estimate()

    def form_values(self) -> dict[str, Any]:
        pretrain = self.task_key == "pretrain"
        values: dict[str, Any] = {"steps" if pretrain else "epochs": self.epochs.value(),
                                  "batch_size": self.batch_size.value(), "optim.lr": self.lr.value()}
        if not pretrain:
            values.update(mode=self.mode.currentData(), val_fraction=round(self.val_fraction.value(), 3))
        return values

    def composed_text(self) -> str:
        """The config text with the form's values applied (what the run is given)."""
        text = set_values(self.config_text, self.form_values())
        if self.task_key == "pretrain":
            text = set_values(text, {"data_path": self.dataset.text().strip()})
        return text

    def override_list(self) -> list[str]:
        return shlex.split(self.overrides.text())

    def edit_config(self) -> None:
        from app.training.config_editor import ConfigEditorDialog

        dialog = ConfigEditorDialog(self.task_key, self.composed_text(), default_config_text(self.task_key), self)
        if dialog.exec() == ConfigEditorDialog.DialogCode.Accepted:
            self.set_config_text(dialog.text)
        dialog.deleteLater()

    def set_config_text(self, text: str) -> None:
        """Use ``text`` as the config (its main values appear in the form)."""
        self.config_text = text
        self._load_values()
        self._apply_init(restore=False)

    def spec(self) -> JobSpec:
        return JobSpec(task=self.task_key, data_path=self.dataset.text().strip(), init=self.init_path,
                       device=str(self.device.currentData() or "auto"), threads=self.threads.value(),
                       overrides=self.override_list())

    # validation and estimate ------------------------------------------------------------------
    def validate(self, min_per_class: int | None = None) -> None:
        """Check the dataset for the current task (in a worker); the report appears below it."""
        path = self.dataset.text().strip()
        if not path:
            self.report.setPlainText("" if self.task_key != "pretrain"
                                     else "No dataset: pretraining on synthetic toy heads.")
            self.update_estimate()
            return
        if min_per_class is None:
            min_per_class = int(get_value(parse(self.config_text), "min_per_class", 2)) \
                if self.task_key != "pretrain" else 1
        self.report.setPlainText("Checking the dataset...")
        self.validator.request(path, self.task_key, min_per_class)

    def _on_checked(self, check: DatasetCheck) -> None:
        if check.path == self.dataset.text().strip() and check.task == self.task_key:
            text = check.text
            n_train = training_scans(check.n_samples, self.val_fraction.value()) if self.task_key != "pretrain" \
                else check.n_samples
            kept = self._kept_structures(check.mask_structures)
            if check.ok and kept:
                text += (f"\nThe starting model also segments the {' and the '.join(kept)}, which these masks "
                         "do not label: the fine-tune keeps them as the starting model has them.")
            if check.ok and 0 < n_train < self.batch_size.value():
                # a small lab set (a few corrected scans) cannot fill the default batch: say so and fit it
                text += (f"\nBatch size lowered from {self.batch_size.value()} to {n_train}: the dataset has "
                         f"{n_train} training scan(s).")
                self.batch_size.setValue(n_train)
            self.report.setPlainText(text)
            self.report.setStyleSheet("" if check.ok else "color: #ffb3a7;")
        self.update_estimate()

    def _kept_structures(self, labelled: tuple[str, ...]) -> list[str]:
        """The starting model's structures these masks do not label (what the engine keeps for it)."""
        if self.task_key != "seg" or not labelled or not self.init_path:
            return []
        from volta_core.contracts.model_card import BundleError, read_card
        from volta_core.contracts.prediction import segmented_structures
        from volta_core.data.validate import seg_structures

        try:
            n = read_card(self.init_path).segmentation_classes
        except (BundleError, OSError, ValueError):
            return []
        structures, annotated = seg_structures(list(labelled), segmented_structures(n))
        return [s.replace("_", " ") for s in structures[len(labelled):]] if annotated else []

    def set_estimator(self, estimator: Any) -> None:
        """``estimator(spec, n_train, batch_size) -> (seconds | None, source text)``."""
        self._estimate_source = estimator
        self.update_estimate()

    def update_estimate(self) -> None:
        check = self.validator.result
        path = self.dataset.text().strip()
        pretrain = self.task_key == "pretrain"
        if pretrain:
            n_train = self.batch_size.value()  # pretraining counts steps, not epochs: time per step
        elif check is None or check.path != path or check.task != self.task_key:
            self.estimate.setText("- (choose a dataset)")
            return
        else:
            n_train = max(1, training_scans(check.n_samples, self.val_fraction.value()))
        if self._estimate_source is None:
            self.estimate.setText("-")
            return
        seconds, source = self._estimate_source(self.spec(), n_train, self.batch_size.value())
        what = "per step" if pretrain else f"for {n_train} training scans"
        self.estimate.setText(f"about {format_duration(seconds)} {what} ({source})" if seconds is not None
                              else f"not known yet: {source}")
