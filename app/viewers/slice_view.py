"""One orthogonal slice view (axial, coronal or sagittal) through the shared cursor.

Rendering is cheap by construction: moving the cursor copies one slice of the display volume
into a numpy buffer, colours it into a small RGB texture and schedules one repaint (repaints
coalesce: a burst of wheel steps costs one render per displayed frame). Actors are built once
per view, never per frame or per scan.
"""

from __future__ import annotations

import numpy as np
from PyQt6.QtCore import QEvent, QObject, QPointF, Qt, pyqtSignal
from PyQt6.QtGui import QMouseEvent, QWheelEvent
from PyQt6.QtWidgets import QVBoxLayout, QWidget

from app.state import CursorModel, DisplayOptions, ImageLayer, ImageModel
from app.state.layers import LayerList
from app.state.mask_editor import MaskEditor
from app.viewers.annotations import VIEW_COLORS, ViewAnnotations
from app.viewers.brush_outline import BrushOutline
from app.viewers.colormaps import colormap_table
from app.viewers.crosshair import Crosshair
from app.viewers.interactor import close_interactor, make_interactor
from app.viewers.slice_geometry import PlaneGeometry, SliceGrid, extract_slice, plane_geometry, slice_grid
from app.viewers.slice_overlay import SliceOverlay
from app.viewers.slice_texture import SliceTexture

_ZOOM_STEP = 1.15
_FIT_MARGIN = 1.04


class SliceView(QWidget):
    """A slice view observing the image, cursor and display models, and setting the cursor.

    Mouse: left click/drag moves the cursor; wheel steps one slice; Ctrl+wheel zooms; middle
    drag (or Shift+left drag) pans; right drag changes window (horizontal) and level
    (vertical); double click asks to maximise the view. Keys: Up/Down, Page Up/Down step slices.
    In edit mode (``MaskEditor.active``) the left button paints with the brush instead.
    """

    maximise_requested = pyqtSignal(str)

    def __init__(self, name: str, image: ImageModel, cursor: CursorModel, display: DisplayOptions,
                 parent: QWidget | None = None, layers: LayerList | None = None,
                 editor: MaskEditor | None = None) -> None:
        super().__init__(parent)
        self._layers = layers if layers is not None else LayerList()
        self._editor = editor
        self.name = name
        self.setObjectName(f"{name}_view")
        self._image, self._cursor, self._display = image, cursor, display
        self.geometry: PlaneGeometry = plane_geometry(name, display.radiological)
        self._grid: SliceGrid | None = None
        self._slice_index = -1
        self._drag: tuple[str, QPointF, tuple[float, ...]] | None = None
        self._camera_fitted = True  # False once the user zooms or pans

        self.plotter = make_interactor(self)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plotter)
        self.renderer = self.plotter.renderer
        self._build_pipeline()
        self.plotter.installEventFilter(self)

        image.changed.connect(self._on_image_changed)
        cursor.changed.connect(self._on_cursor_changed)
        display.changed.connect(self._on_display_changed)
        self._layers.changed.connect(self._on_layers_changed)
        self._on_image_changed(image.layer)

    # pipeline ---------------------------------------------------------------------------------
    def _build_pipeline(self) -> None:
        self.slice_image = SliceTexture()
        self.slice_image.set_colormap(colormap_table(self._display.colormap))
        self.image_actor = self.slice_image.actor
        self.renderer.AddActor(self.image_actor)
        self.overlay = SliceOverlay()
        self.renderer.AddActor(self.overlay.actor)
        self.brush = BrushOutline()
        self.renderer.AddActor(self.brush.actor)
        g = self.geometry
        self.crosshair = Crosshair(VIEW_COLORS[g.u_axis], VIEW_COLORS[g.v_axis])
        self.renderer.AddActor(self.crosshair.actor)
        self.annotations = ViewAnnotations(self.renderer, self.name.capitalize(),
                                           VIEW_COLORS[g.normal])
        camera = self.renderer.GetActiveCamera()
        camera.ParallelProjectionOn()
        camera.SetViewUp(0.0, 1.0, 0.0)
        self._apply_window_level()

    # model -> view ----------------------------------------------------------------------------
    def _on_image_changed(self, layer: ImageLayer | None) -> None:
        has_image = layer is not None
        self.image_actor.SetVisibility(has_image and self._layers.scan_visible)
        self.crosshair.actor.SetVisibility(has_image and self._display.show_crosshair)
        self.annotations.set_visible(has_image)
        self._grid = None
        self._slice_index = -1
        if layer is not None:
            self._setup_grid(layer)
            self.fit_camera()
            self._update_slice(force=True)
        self.render()

    def _setup_grid(self, layer: ImageLayer) -> None:
        grid = slice_grid(self.geometry, layer.display.shape, layer.display_spacing,
                          layer.display_origin)
        self._grid = grid
        self.slice_image.set_grid(grid)
        self.overlay.set_grid(grid)
        self.annotations.set_edges(self.geometry.edge_labels())
        self._slice_index = -1

    def _on_cursor_changed(self, _position: np.ndarray) -> None:
        if self._grid is None:
            return
        self._update_slice()
        self.render()

    def _on_display_changed(self, field: str) -> None:
        if field == "window_level":
            self._apply_window_level()
            self._update_info()
        elif field == "colormap":
            self.slice_image.set_colormap(colormap_table(self._display.colormap))
        elif field == "radiological":
            self.geometry = plane_geometry(self.name, self._display.radiological)
            layer = self._image.layer
            if layer is not None:
                center = self.camera_center_world()
                self._setup_grid(layer)
                self._update_slice(force=True)
                self._set_camera_center(center)
        elif field == "show_crosshair":
            self.crosshair.actor.SetVisibility(self._display.show_crosshair and self._grid is not None)
        else:
            return
        self.render()

    def _apply_window_level(self) -> None:
        self.slice_image.set_window(*self._display.display_range)

    def _update_slice(self, force: bool = False) -> None:
        """Copy the slice through the cursor into the buffer (if it changed) and move the crosshair."""
        layer, grid = self._image.layer, self._grid
        if layer is None or grid is None:
            return
        normal = self.geometry.normal
        cursor = self._cursor.position
        index = int(np.clip(np.rint(layer.display_index(cursor)[normal]), 0, grid.n_slices - 1))
        if force or index != self._slice_index:
            self.slice_image.set_values(extract_slice(self.geometry, layer.display.data, index))
            self._slice_index = index
            self.overlay.update(self._layers, self.geometry, index)
        u, v = self.geometry.to_plane(cursor)
        u_range = (grid.origin[0], grid.origin[0] + (grid.dims[0] - 1) * grid.spacing[0])
        v_range = (grid.origin[1], grid.origin[1] + (grid.dims[1] - 1) * grid.spacing[1])
        self.crosshair.update(u, v, u_range, v_range)
        self._update_info()

    def _on_layers_changed(self, _field: str) -> None:
        self.image_actor.SetVisibility(self._image.layer is not None and self._layers.scan_visible)
        self.image_actor.GetProperty().SetOpacity(self._layers.scan_opacity)
        if self._grid is not None and self._slice_index >= 0:
            self.overlay.update(self._layers, self.geometry, self._slice_index)
        self.render()

    def _update_info(self) -> None:
        if self._grid is None:
            return
        depth = self._cursor.position[self.geometry.normal]
        self.annotations.set_info(
            f"Slice {self._slice_index + 1}/{self._grid.n_slices}  ({depth:+.1f} mm)",
            f"W {self._display.window:.4g}  L {self._display.level:.4g}")

    @property
    def slice_index(self) -> int:
        """Index of the shown slice in the display (RAS) grid, -1 without a scan."""
        return self._slice_index

    # camera -----------------------------------------------------------------------------------
    def fit_camera(self) -> None:
        """Show the whole slice, centred (also what "Reset view" does)."""
        grid = self._grid
        if grid is None:
            return
        width_mm = (grid.dims[0]) * grid.spacing[0]
        height_mm = (grid.dims[1]) * grid.spacing[1]
        center = (grid.origin[0] + (grid.dims[0] - 1) * grid.spacing[0] / 2.0,
                  grid.origin[1] + (grid.dims[1] - 1) * grid.spacing[1] / 2.0)
        aspect = max(self.plotter.width(), 1) / max(self.plotter.height(), 1)
        scale = max(height_mm / 2.0, width_mm / 2.0 / aspect) * _FIT_MARGIN
        self._place_camera(center, scale)
        self._camera_fitted = True

    def set_camera(self, center_world: np.ndarray, half_height_mm: float) -> None:
        """Centre the view on a world point with ``half_height_mm`` from the centre to the top edge."""
        self._place_camera(self.geometry.to_plane(np.asarray(center_world)), half_height_mm)
        self._camera_fitted = False

    def camera_state(self) -> tuple[object, ...]:
        """The camera as it is now, for :meth:`restore_camera` (after a screenshot, say)."""
        camera = self.renderer.GetActiveCamera()
        return camera.GetFocalPoint(), camera.GetPosition(), camera.GetParallelScale(), self._camera_fitted

    def restore_camera(self, state: tuple[object, ...]) -> None:
        camera = self.renderer.GetActiveCamera()
        camera.SetFocalPoint(*state[0])  # type: ignore[misc]
        camera.SetPosition(*state[1])  # type: ignore[misc]
        camera.SetParallelScale(state[2])  # type: ignore[arg-type]
        self._camera_fitted = bool(state[3])

    def _place_camera(self, center: tuple[float, float], scale: float) -> None:
        camera = self.renderer.GetActiveCamera()
        camera.SetFocalPoint(center[0], center[1], 0.0)
        camera.SetPosition(center[0], center[1], 1000.0)
        camera.SetViewUp(0.0, 1.0, 0.0)
        camera.SetParallelScale(scale)
        camera.SetClippingRange(1.0, 2000.0)

    def camera_center_world(self) -> np.ndarray:
        """The world point at the centre of the view (on the current slice)."""
        fx, fy, _ = self.renderer.GetActiveCamera().GetFocalPoint()
        return self.geometry.to_world(fx, fy, float(self._cursor.position[self.geometry.normal]))

    def _set_camera_center(self, world: np.ndarray) -> None:
        scale = self.renderer.GetActiveCamera().GetParallelScale()
        if self._camera_fitted:
            self.fit_camera()
        else:
            self._place_camera(self.geometry.to_plane(world), scale)

    def zoom(self, factor: float) -> None:
        """Magnify by ``factor`` (> 1 zooms in) about the view centre."""
        camera = self.renderer.GetActiveCamera()
        camera.SetParallelScale(camera.GetParallelScale() / factor)
        self._camera_fitted = False
        self.render()

    # coordinates ------------------------------------------------------------------------------
    def widget_to_world(self, x: float, y: float) -> np.ndarray:
        """World point (on the current slice) under widget pixel ``(x, y)`` (y down)."""
        ratio = self.plotter.devicePixelRatioF()
        height = self.renderer.GetSize()[1]
        self.renderer.SetDisplayPoint(x * ratio, height - 1 - y * ratio, 0.0)
        self.renderer.DisplayToWorld()
        wx, wy, _wz, w = self.renderer.GetWorldPoint()
        w = w or 1.0
        return self.geometry.to_world(wx / w, wy / w, float(self._cursor.position[self.geometry.normal]))

    def world_to_pixel(self, world: np.ndarray) -> tuple[float, float]:
        """Image-pixel position ``(column, row)``, row 0 at the top, of a world point."""
        u, v = self.geometry.to_plane(np.asarray(world))
        self.renderer.SetWorldPoint(u, v, 0.0, 1.0)
        self.renderer.WorldToDisplay()
        x, y, _ = self.renderer.GetDisplayPoint()
        return (x, self.renderer.GetSize()[1] - 1 - y)

    # view -> model: mouse and keys ------------------------------------------------------------
    def eventFilter(self, watched: QObject | None, event: QEvent | None) -> bool:  # noqa: N802
        """Handle the interactor's input ourselves: VTK's own interactor style never sees it."""
        if watched is not self.plotter or event is None:
            return False
        kind = event.type()
        if kind == QEvent.Type.Resize:
            if self._camera_fitted:
                self.fit_camera()
            return False
        if kind == QEvent.Type.Wheel:
            self._wheel(event)  # type: ignore[arg-type]
            return True
        if kind == QEvent.Type.MouseButtonDblClick:
            self.maximise_requested.emit(self.name)
            return True
        if kind in (QEvent.Type.MouseButtonPress, QEvent.Type.MouseMove, QEvent.Type.MouseButtonRelease):
            self._mouse(event)  # type: ignore[arg-type]
            return True
        if kind in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease):
            if kind == QEvent.Type.KeyPress:
                self._key(event.key())  # type: ignore[attr-defined]
            return True
        return False

    def _mouse(self, event: QMouseEvent) -> None:
        pos = event.position()
        if event.type() == QEvent.Type.MouseButtonPress:
            button, shift = event.button(), event.modifiers() & Qt.KeyboardModifier.ShiftModifier
            if button == Qt.MouseButton.MiddleButton or (button == Qt.MouseButton.LeftButton and shift):
                self._drag = ("pan", pos, self.renderer.GetActiveCamera().GetFocalPoint())
            elif button == Qt.MouseButton.LeftButton and self._editing():
                self._drag = ("paint", pos, ())
                self._editor.begin_stroke()  # type: ignore[union-attr]
                self.paint_at(pos.x(), pos.y())
            elif button == Qt.MouseButton.LeftButton:
                self._drag = ("cursor", pos, ())
                self.move_cursor_to(pos.x(), pos.y())
            elif button == Qt.MouseButton.RightButton:
                self._drag = ("window", pos, (self._display.window, self._display.level))
        elif event.type() == QEvent.Type.MouseButtonRelease:
            if self._drag is not None and self._drag[0] == "paint" and self._editor is not None:
                self._editor.end_stroke()
            self._drag = None
        else:
            self._show_brush(pos.x(), pos.y())
        if event.type() == QEvent.Type.MouseMove and self._drag is not None:
            mode, start, saved = self._drag
            if mode == "paint":
                self.paint_at(pos.x(), pos.y())
            elif mode == "cursor":
                self.move_cursor_to(pos.x(), pos.y())
            elif mode == "pan":
                self._pan(start, pos, saved)
            elif mode == "window":
                self._drag_window_level(start, pos, saved)

    def move_cursor_to(self, x: float, y: float) -> None:
        """Put the cursor at widget pixel ``(x, y)`` (clamped to the scan's extent)."""
        layer = self._image.layer
        if layer is None:
            return
        self._cursor.set_position(layer.clamp_to_bounds(self.widget_to_world(x, y)))

    def _editing(self) -> bool:
        editing = self._editor is not None and self._editor.active and self._editor.target is not None
        shape = Qt.CursorShape.CrossCursor if editing else Qt.CursorShape.ArrowCursor
        if self.plotter is not None and self.plotter.cursor().shape() != shape:
            self.plotter.setCursor(shape)
        return editing

    def paint_at(self, x: float, y: float) -> int:
        """Paint one brush disc at widget pixel ``(x, y)`` on the current slice; voxels changed."""
        layer = self._image.layer
        if layer is None or not self._editing():
            return 0
        world = self.widget_to_world(x, y)
        return self._editor.dab(world, self.geometry.normal, layer.display.affine)  # type: ignore[union-attr]

    def _show_brush(self, x: float, y: float) -> None:
        if not self._editing() or self._grid is None:
            if self.brush.actor.GetVisibility():
                self.brush.actor.SetVisibility(False)
                self.render()
            return
        u, v = self.geometry.to_plane(self.widget_to_world(x, y))
        self.brush.place(u, v, self._editor.radius_mm)  # type: ignore[union-attr]
        self.render()

    def _pan(self, start: QPointF, pos: QPointF, focal: tuple[float, ...]) -> None:
        camera = self.renderer.GetActiveCamera()
        mm_per_pixel = 2.0 * camera.GetParallelScale() / max(self.plotter.height(), 1)
        dx, dy = (pos.x() - start.x()) * mm_per_pixel, (pos.y() - start.y()) * mm_per_pixel
        self._place_camera((focal[0] - dx, focal[1] + dy), camera.GetParallelScale())
        self._camera_fitted = False
        self.render()

    def _drag_window_level(self, start: QPointF, pos: QPointF, saved: tuple[float, ...]) -> None:
        layer = self._image.layer
        if layer is None:
            return
        per_pixel = max(layer.stats.p99_5 - layer.stats.p0_5, 1e-6) / 300.0
        window = saved[0] + (pos.x() - start.x()) * per_pixel
        level = saved[1] + (pos.y() - start.y()) * per_pixel
        self._display.set_window_level(max(window, per_pixel), level)

    def _wheel(self, event: QWheelEvent) -> None:
        steps = event.angleDelta().y() / 120.0
        if steps == 0:
            return
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.zoom(_ZOOM_STEP ** steps)
        else:
            self.step_slice(1 if steps > 0 else -1)

    def _key(self, key: int) -> None:
        steps = {Qt.Key.Key_Up: 1, Qt.Key.Key_Down: -1, Qt.Key.Key_PageUp: 10,
                 Qt.Key.Key_PageDown: -10}.get(Qt.Key(key))
        if steps:
            self.step_slice(steps)

    def step_slice(self, steps: int) -> None:
        """Move the cursor ``steps`` display voxels along the view's normal (clamped)."""
        layer, grid = self._image.layer, self._grid
        if layer is None or grid is None:
            return
        normal = self.geometry.normal
        index = int(np.clip(self._slice_index + steps, 0, grid.n_slices - 1))
        value = layer.display_origin[normal] + index * layer.display_spacing[normal]
        self._cursor.set_axis(normal, value)

    # rendering and life cycle -----------------------------------------------------------------
    def render(self) -> None:
        """Schedule a repaint if the view is on screen (hidden views render when shown).

        The interactor renders in its paint handler anyway, so an explicit render here would
        render every frame twice; several requests before the next paint cost one render.
        """
        if self.plotter is not None and self.isVisible():
            self.plotter.update()

    def render_now(self) -> None:
        """Render synchronously (benchmarks, screenshots)."""
        if self.plotter is not None:
            self.plotter.render()

    def showEvent(self, event) -> None:  # noqa: N802, ANN001
        super().showEvent(event)
        self.render()

    def screenshot(self) -> np.ndarray:
        """The rendered view as ``(height, width, 3)`` uint8 RGB, row 0 at the top."""
        self.plotter.render()
        return np.asarray(self.plotter.screenshot(return_img=True))

    def close_view(self) -> None:
        """Disconnect from the models and release the render window."""
        self._image.changed.disconnect(self._on_image_changed)
        self._cursor.changed.disconnect(self._on_cursor_changed)
        self._display.changed.disconnect(self._on_display_changed)
        self._layers.changed.disconnect(self._on_layers_changed)
        self.plotter.removeEventFilter(self)
        close_interactor(self.plotter)
        self.plotter = None
