"""Dock listing the scan and the overlay layers (top of the list is drawn on top): show/hide,
opacity, outline, colours and order of the selected layer."""

from __future__ import annotations

from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtGui import QColor, QIcon, QPixmap
from PyQt6.QtWidgets import (
    QCheckBox,
    QColorDialog,
    QDockWidget,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from app.panels.scrolling import scrolling
from app.state.layers import LABELS, LayerList, OverlayLayer
from app.state.segmentation import LEFT, RIGHT

SCAN_ROW = "Scan"


def _swatch(colors: list[tuple[float, float, float]]) -> QIcon:
    pixmap = QPixmap(28, 14)
    pixmap.fill(QColor(0, 0, 0, 0))
    from PyQt6.QtGui import QPainter

    painter = QPainter(pixmap)
    width = 28 // max(len(colors), 1)
    for i, rgb in enumerate(colors):
        painter.fillRect(i * width, 0, width, 14, QColor.fromRgbF(*rgb))
    painter.end()
    return QIcon(pixmap)


class LayersPanel(QDockWidget):
    """A list (check box = visible) plus controls for the selected row.

    Signals ``segmentation_selected(Segmentation)`` when the user selects a layer and
    ``remove_requested(Segmentation)`` when they ask to remove one (the window decides).
    """

    segmentation_selected = pyqtSignal(object)
    remove_requested = pyqtSignal(object)

    def __init__(self, layers: LayerList, parent: QWidget | None = None) -> None:
        super().__init__("Layers", parent)
        self.setObjectName("layers_panel")
        self._layers = layers
        self._updating = False
        self._rebuilding = False
        body = QWidget(self)
        layout = QVBoxLayout(body)
        layout.setContentsMargins(6, 6, 6, 6)
        self.list = QListWidget(body)
        self.list.setObjectName("layer_list")
        self.list.setMaximumHeight(110)
        self.list.currentRowChanged.connect(self._sync_controls)
        self.list.itemChanged.connect(self._on_item_changed)
        layout.addWidget(self.list)
        row = QHBoxLayout()
        row.addWidget(QLabel("Opacity", body))
        self.opacity = QSlider(Qt.Orientation.Horizontal, body)
        self.opacity.setObjectName("layer_opacity")
        self.opacity.setRange(0, 100)
        self.opacity.valueChanged.connect(self._on_opacity)
        row.addWidget(self.opacity)
        layout.addLayout(row)
        row = QHBoxLayout()
        self.outline = QCheckBox("Outline only", body)
        self.outline.setObjectName("layer_outline")
        self.outline.toggled.connect(self._on_outline)
        self.left_color = QPushButton("Left colour", body)
        self.right_color = QPushButton("Right colour", body)
        self.left_color.clicked.connect(lambda: self._pick_color(LEFT))
        self.right_color.clicked.connect(lambda: self._pick_color(RIGHT))
        row.addWidget(self.outline)
        row.addWidget(self.left_color)
        row.addWidget(self.right_color)
        layout.addLayout(row)
        row = QHBoxLayout()
        self.up = QPushButton("Move up", body)
        self.down = QPushButton("Move down", body)
        self.up.clicked.connect(lambda: self._move(1))
        self.down.clicked.connect(lambda: self._move(-1))
        self.remove = QPushButton("Remove", body)
        self.remove.setObjectName("remove_layer")
        self.remove.clicked.connect(self._remove)
        row.addWidget(self.up)
        row.addWidget(self.down)
        row.addWidget(self.remove)
        layout.addLayout(row)
        layout.addStretch(1)
        self.setWidget(scrolling(body, self))
        layers.changed.connect(self._on_layers_changed)
        self.rebuild()

    # model -> view ----------------------------------------------------------------------------
    def _on_layers_changed(self, field: str) -> None:
        if field in ("layers", "style"):
            self.rebuild()

    def rows(self) -> list[OverlayLayer | None]:
        """What each list row shows, top to bottom (``None`` is the scan, always at the bottom)."""
        return [*reversed(self._layers.layers), None]

    def rebuild(self) -> None:
        selected = self.selected()
        self._updating = self._rebuilding = True
        self.list.clear()
        for layer in self.rows():
            item = QListWidgetItem(SCAN_ROW if layer is None else layer.name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            visible = self._layers.scan_visible if layer is None else layer.visible
            item.setCheckState(Qt.CheckState.Checked if visible else Qt.CheckState.Unchecked)
            if layer is not None and layer.kind == LABELS:
                item.setIcon(_swatch([layer.colors[LEFT], layer.colors[RIGHT]]))
            elif layer is not None:
                item.setIcon(_swatch([(0.5, 0.0, 0.0), (1.0, 0.6, 0.0), (1.0, 1.0, 0.6)]))
            else:
                item.setIcon(_swatch([(0.2, 0.2, 0.2), (0.6, 0.6, 0.6), (1.0, 1.0, 1.0)]))
            self.list.addItem(item)
        rows = self.rows()
        self.list.setCurrentRow(rows.index(selected) if selected in rows else 0)
        self._updating = False
        self._sync_controls()
        self._rebuilding = False

    def selected(self) -> OverlayLayer | None:
        row = self.list.currentRow() if hasattr(self, "list") else -1
        rows = self.rows()
        return rows[row] if 0 <= row < len(rows) else None

    def _sync_controls(self, *_args: object) -> None:
        layer = self.selected()
        self._updating = True
        opacity = self._layers.scan_opacity if layer is None else layer.opacity
        self.opacity.setValue(int(round(opacity * 100)))
        is_labels = layer is not None and layer.kind == LABELS
        self.outline.setChecked(bool(is_labels and layer.outline))  # type: ignore[union-attr]
        for widget in (self.outline, self.left_color, self.right_color):
            widget.setEnabled(is_labels)
        self.up.setEnabled(layer is not None)
        self.down.setEnabled(layer is not None)
        self.remove.setEnabled(layer is not None)
        self._updating = False
        if layer is not None and not self._rebuilding:
            self.segmentation_selected.emit(layer.segmentation)

    # view -> model ----------------------------------------------------------------------------
    def _on_item_changed(self, item: QListWidgetItem) -> None:
        if self._updating:
            return
        layer = self.rows()[self.list.row(item)]
        visible = item.checkState() == Qt.CheckState.Checked
        if layer is None:
            self._layers.set_scan_style(visible=visible)
        else:
            self._layers.set_style(layer, visible=visible)

    def _on_opacity(self, value: int) -> None:
        if self._updating:
            return
        layer = self.selected()
        if layer is None:
            self._layers.set_scan_style(opacity=value / 100.0)
        else:
            self._layers.set_style(layer, opacity=value / 100.0)

    def _on_outline(self, checked: bool) -> None:
        layer = self.selected()
        if not self._updating and layer is not None:
            self._layers.set_style(layer, outline=checked)

    def _pick_color(self, label: int) -> None:
        layer = self.selected()
        if layer is None:
            return
        color = QColorDialog.getColor(QColor.fromRgbF(*layer.colors[label]), self, "Label colour")
        if color.isValid():
            self._layers.set_style(layer, colors={**layer.colors, label: (color.redF(), color.greenF(), color.blueF())})

    def _remove(self) -> None:
        layer = self.selected()
        if layer is not None:
            self.remove_requested.emit(layer.segmentation)

    def _move(self, steps: int) -> None:
        layer = self.selected()
        if layer is not None:
            self._layers.move(layer, steps)

    def disconnect_models(self) -> None:
        self._layers.changed.disconnect(self._on_layers_changed)
