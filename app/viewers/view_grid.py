"""The central widget: the three slice views and the 3D view, arranged by ``DisplayOptions.layout``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PyQt6.QtWidgets import QGridLayout, QWidget

from app.state import CursorModel, DisplayOptions, ImageModel, Layout
from app.state.layers import LayerList
from app.state.mask_editor import MaskEditor
from app.viewers.slice_view import SliceView
from app.viewers.volume_view import VolumeView

# Positions in the 2x2 grid, as in ITK-SNAP: axial | sagittal over coronal | 3D.
_GRID_CELLS = {"axial": (0, 0), "sagittal": (0, 1), "coronal": (1, 0), "3d": (1, 1)}


class ViewGrid(QWidget):
    """Owns the four views; re-arranges them (never re-creates them) when the layout changes.

    The views stay children of this widget for their whole life: moving an OpenGL widget to
    another parent would recreate its context.
    """

    def __init__(self, image: ImageModel, cursor: CursorModel, display: DisplayOptions,
                 parent: QWidget | None = None, layers: LayerList | None = None,
                 editor: MaskEditor | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("view_grid")
        self._display = display
        layers = layers if layers is not None else LayerList()
        self.slice_views = {name: SliceView(name, image, cursor, display, self, layers, editor)
                            for name in ("axial", "sagittal", "coronal")}
        self.volume_view = VolumeView(image, cursor, self, layers)
        self.views: dict[str, QWidget] = {**self.slice_views, "3d": self.volume_view}
        for view in self.slice_views.values():
            view.maximise_requested.connect(self._toggle_maximised)
        self._grid = QGridLayout(self)
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._grid.setSpacing(2)
        self.setStyleSheet("#view_grid { background: #2a2f37; }")
        display.changed.connect(self._on_display_changed)
        self.volume_view.set_clipping(display.clipping)
        self.volume_view.set_fade(display.fade)
        self.arrange()

    def _on_display_changed(self, field: str) -> None:
        if field in ("layout", "main_view"):
            self.arrange()
        elif field == "clipping":
            self.volume_view.set_clipping(self._display.clipping)
        elif field == "fade":
            self.volume_view.set_fade(self._display.fade)

    def _toggle_maximised(self, name: str) -> None:
        """Double click: show that view alone, or go back to the grid."""
        if self._display.layout == Layout.SINGLE and self._display.main_view == name:
            self._display.set_layout(Layout.GRID)
        else:
            self._display.set_main_view(name)
            self._display.set_layout(Layout.SINGLE)

    def arrange(self) -> None:
        """Place the views in the grid for the current layout and main view."""
        for view in self.views.values():
            self._grid.removeWidget(view)
        for i in range(4):
            self._grid.setRowStretch(i, 0)
            self._grid.setColumnStretch(i, 0)
        layout, main = self._display.layout, self._display.main_view
        if layout == Layout.GRID:
            for name, (row, col) in _GRID_CELLS.items():
                self._grid.addWidget(self.views[name], row, col)
            for i in range(2):
                self._grid.setRowStretch(i, 1)
                self._grid.setColumnStretch(i, 1)
        elif layout == Layout.ONE_PLUS_THREE:
            self._grid.addWidget(self.views[main], 0, 0, 3, 1)
            others = [n for n in ("axial", "sagittal", "coronal", "3d") if n != main]
            for row, name in enumerate(others):
                self._grid.addWidget(self.views[name], row, 1)
                self._grid.setRowStretch(row, 1)
            self._grid.setColumnStretch(0, 3)
            self._grid.setColumnStretch(1, 1)
        else:
            self._grid.addWidget(self.views[main], 0, 0)
            self._grid.setRowStretch(0, 1)
            self._grid.setColumnStretch(0, 1)
        for name, view in self.views.items():
            view.setVisible(layout != Layout.SINGLE or name == main)

    def reset_views(self) -> None:
        """Fit every slice view and reset the 3D camera."""
        for view in self.slice_views.values():
            view.fit_camera()
            view.render()
        self.volume_view.reset_camera()
        self.volume_view.render()

    def save_screenshots(self, folder: Path, center_world: np.ndarray, half_height_mm: float) -> dict[str, Path]:
        """PNGs of every view centred on ``center_world`` (cameras restored afterwards)."""
        folder.mkdir(parents=True, exist_ok=True)
        paths: dict[str, Path] = {}
        for name, view in self.slice_views.items():
            # the brush ring and the crosshair are tools, not part of the image
            tools = [(actor, bool(actor.GetVisibility())) for actor in (view.brush.actor, view.crosshair.actor)]
            for actor, _shown in tools:
                actor.SetVisibility(False)
            saved = view.camera_state()
            view.set_camera(center_world, half_height_mm)
            paths[name] = folder / f"{name}.png"
            view.plotter.render()  # screenshot() would otherwise return the last frame shown
            view.plotter.screenshot(str(paths[name]))
            view.restore_camera(saved)
            for actor, shown in tools:
                actor.SetVisibility(shown)
            view.render()
        volume = self.volume_view
        camera = volume.renderer.GetActiveCamera()
        saved3d = (camera.GetFocalPoint(), camera.GetPosition(), camera.GetViewUp(), camera.GetClippingRange())
        clipping = volume.clipping
        volume.set_clipping(True)
        volume.focus_on(center_world)
        paths["3d"] = folder / "3d.png"
        volume.plotter.render()
        volume.plotter.screenshot(str(paths["3d"]))
        volume.set_clipping(clipping)
        camera.SetFocalPoint(*saved3d[0])
        camera.SetPosition(*saved3d[1])
        camera.SetViewUp(*saved3d[2])
        camera.SetClippingRange(*saved3d[3])
        volume.render()
        return paths

    def close_views(self) -> None:
        """Release all render windows; call before the window is destroyed."""
        self._display.changed.disconnect(self._on_display_changed)
        for view in self.views.values():
            view.close_view()  # type: ignore[attr-defined]
