"""Dock with the current prediction's results: volumes, %ICV, asymmetry, class probabilities (or
"not trained"), the model card's caveat, quality measures and warnings, Dice against other masks."""

from __future__ import annotations

from PyQt6.QtCore import Qt, QTimer, pyqtSignal
from PyQt6.QtWidgets import (
    QDockWidget,
    QFormLayout,
    QGridLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QStyle,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.dialogs import show_message_box
from app.panels.result_help import registration_threshold, result_help

from app.state.layers import LayerList
from app.state.results import RESEARCH_LINE, result_rows
from app.state.segmentation import LEFT, RIGHT, Segmentation, box_dice

RESULT_HELP_BOX = "result_help_box"
EMPTY_TEXT = "Run a model (Model > Run, Ctrl+R) to see hippocampus volumes here."


def dice_rows(current: Segmentation, others: list[Segmentation], *, file_names: bool = True) -> list[tuple[str, str]]:
    """``(label, "left 0.912, right 0.874")`` rows: Dice of ``current`` against each other mask.

    Args:
        file_names: name loaded label maps by their file name; False (exports without
            identifiers) calls them "reference label map 1", "2", ... (file names can identify a patient).
    """
    rows = []
    n_files = 0
    for other in others:
        if other is current or other.labels.shape != current.labels.shape:
            continue
        values = [box_dice(current, other, label) for label in (LEFT, RIGHT)]
        text = ", ".join(f"{side} {'-' if v is None else f'{v:.3f}'}" for side, v in zip(("left", "right"), values))
        name = other.name
        if not other.is_prediction and not file_names:
            n_files += 1
            name = f"reference label map {n_files}"
        rows.append((f"Dice vs {name}", text))
    return rows


def _below_registration_threshold(text: str) -> bool:
    try:
        return float(text.split()[0]) < registration_threshold()
    except (ValueError, IndexError):
        return False


class ResultsPanel(QDockWidget):
    """Shows ``current`` (set by the inference controller) and follows its edits live.

    ``registry_requested()``: the "Models..." button (choose the model to run, manage the registry).
    """

    registry_requested = pyqtSignal()

    def __init__(self, layers: LayerList, parent: QWidget | None = None) -> None:
        super().__init__("Results", parent)
        self.setObjectName("results_panel")
        self._layers = layers
        self.current: Segmentation | None = None
        self.intended_use = "research use only, not for diagnosis"
        body = QWidget(self)
        self._layout = QVBoxLayout(body)
        self._layout.setContentsMargins(8, 6, 8, 6)
        self.registry_button = QPushButton("Models...", body)
        self.registry_button.setObjectName("results_models")
        self.registry_button.setToolTip("Choose the model to run, or rename, delete and export models")
        self.registry_button.clicked.connect(self.registry_requested)
        self._layout.addWidget(self.registry_button, 0, Qt.AlignmentFlag.AlignRight)
        self.values: dict[str, QLabel] = {}
        self.help_buttons: dict[str, QToolButton] = {}
        # a grid, not a form: in a form, a panel tall enough not to scroll cut wrapped values off at
        # the bottom ("5.473 mL (0.317% of ICV)", the P(male) caveat)
        self._rows_widget = QWidget(body)
        self._layout.addWidget(self._rows_widget)
        self._clear_rows()
        self.model_label = QLabel(body)  # long text: wraps across the panel's whole width, below the rows
        self.model_label.setObjectName("results_model")
        self.model_label.setWordWrap(True)
        self.model_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._layout.addWidget(self.model_label)
        self.warnings_widget = QWidget(body)
        self._warnings = QVBoxLayout(self.warnings_widget)
        self._warnings.setContentsMargins(0, 4, 0, 4)
        self._layout.addWidget(self.warnings_widget)
        self._layout.addStretch(1)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(body)
        outer = QWidget(self)
        outer_layout = QVBoxLayout(outer)
        outer_layout.setContentsMargins(0, 0, 0, 4)
        outer_layout.addWidget(scroll, 1)
        self.caveat = QLabel(outer)  # pinned below the scrolling rows: always visible
        self.caveat.setObjectName("results_caveat")
        self.caveat.setWordWrap(True)
        self.caveat.setContentsMargins(8, 0, 8, 0)
        self.caveat.setStyleSheet("color: #ffcf70;")
        outer_layout.addWidget(self.caveat)
        outer.setMinimumWidth(320)
        self.setWidget(outer)
        # painting edits the labels many times a second: refresh at most every 100 ms
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(100)
        self._timer.timeout.connect(self.refresh)
        layers.changed.connect(self._on_layers_changed)
        self.refresh()

    def set_current(self, segmentation: Segmentation | None, intended_use: str | None = None) -> None:
        self.current = segmentation
        if intended_use:
            self.intended_use = intended_use
        self.refresh()

    def _on_layers_changed(self, field: str) -> None:
        if field in ("data", "layers"):
            self._timer.start()

    def refresh(self) -> None:
        """Rebuild the rows from the current segmentation's CURRENT labels."""
        self._timer.stop()
        self._clear_rows()
        while self._warnings.count():
            item = self._warnings.takeAt(0)
            if item is not None and item.widget() is not None:
                item.widget().deleteLater()
        self.values = {}
        self.help_buttons = {}
        seg = self.current
        if seg is None or seg.prediction is None:
            self.model_label.setText(EMPTY_TEXT)
            self.caveat.setText(f"<b>{RESEARCH_LINE}</b>")
            return
        rows = result_rows(seg, self.intended_use)
        self._add_section("Hippocampus volumes")
        for key, text in rows.measures:
            self._add_row(key, text)
        self._add_section("Classification")
        for key, text in rows.classification:
            self._add_row(key, text)
        comparisons = dice_rows(seg, self._layers.segmentations())
        if comparisons:
            self._add_section("Agreement")
            for key, text in comparisons:
                self._add_row(key, text)
        self._add_section("Quality")
        for key, text in rows.quality:
            self._add_row(key, text)
        self.model_label.setText(f"<b style='color:#8fb8e8'>Model</b><br>{rows.model}")
        icon = self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning).pixmap(16, 16)
        for warning in rows.warnings:
            line = QWidget(self.warnings_widget)
            line.setObjectName("quality_warning")
            h = QFormLayout(line)
            h.setContentsMargins(0, 0, 0, 0)
            pic, text = QLabel(line), QLabel(warning, line)
            pic.setPixmap(icon)
            text.setWordWrap(True)
            text.setStyleSheet("color: #ffb347;")
            h.addRow(pic, text)
            self._warnings.addWidget(line)
        self.caveat.setText(f"<b>{RESEARCH_LINE}</b><br>{rows.caveat}")

    def _clear_rows(self) -> None:
        """Start the rows afresh: a new grid (a grid cannot drop its rows)."""
        old = self._rows_widget
        self._rows_widget = QWidget(old.parentWidget())
        self._grid = QGridLayout(self._rows_widget)
        self._grid.setContentsMargins(9, 0, 0, 0)
        self._grid.setHorizontalSpacing(6)
        self._grid.setVerticalSpacing(3)
        self._grid.setColumnStretch(1, 1)
        self._next_row = 0
        self._layout.replaceWidget(old, self._rows_widget)
        old.hide()
        old.deleteLater()

    def _take_row(self) -> int:
        self._next_row += 1
        return self._next_row - 1

    def _add_full_row(self, widget: QWidget) -> None:
        self._grid.addWidget(widget, self._take_row(), 0, 1, 3)

    def _add_section(self, title: str) -> None:
        label = QLabel(f"<b>{title}</b>", self._rows_widget)
        label.setStyleSheet("color: #8fb8e8; margin-top: 6px;")
        self._add_full_row(label)

    def _add_row(self, key: str, text: str) -> None:
        value = QLabel(text, self._rows_widget)
        value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        value.setWordWrap(True)
        value.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.values[key] = value
        if not key:
            self._add_full_row(value)
            return
        help_text = result_help(key)
        value.setToolTip(help_text or text)
        if key == "Registration quality" and _below_registration_threshold(text):
            value.setText(f"{text} - below {registration_threshold():.2f}: check the alignment")
            value.setStyleSheet("color: #ffb347; font-weight: bold;")
        name = QLabel(f"{key}:", self._rows_widget)
        name.setToolTip(help_text)
        name.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)
        row = self._take_row()
        self._grid.addWidget(name, row, 0)
        self._grid.addWidget(value, row, 1)
        if help_text:
            button = QToolButton(self._rows_widget)
            button.setText("?")
            button.setObjectName("result_help")
            button.setAutoRaise(True)
            button.setToolTip(help_text)
            button.clicked.connect(lambda _c=False, k=key, h=help_text: self.show_help(k, h))
            self._grid.addWidget(button, row, 2, Qt.AlignmentFlag.AlignTop)
            self.help_buttons[key] = button

    def show_help(self, key: str, text: str) -> QMessageBox:
        """The help of one result in a box that returns at once (tests find it by its name)."""
        return show_message_box(self, key.replace(" (corrected)", ""), text, object_name=RESULT_HELP_BOX,
                                icon=QMessageBox.Icon.Information)

    def disconnect_models(self) -> None:
        self._timer.stop()
        self._layers.changed.disconnect(self._on_layers_changed)
