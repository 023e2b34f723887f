"""The 3D view: a volume rendering of the scan with the cursor's three planes marked.

The renderer works on a downsampled copy (at most ``MAX_DIM`` voxels a side): a 256^3 scan
becomes 128^3, which software OpenGL still rotates interactively. The volume, mapper, property
and cursor lines are built once; a new scan only swaps the mapper's input.
"""

from __future__ import annotations

import math
import os

import numpy as np
from PyQt6.QtCore import QEvent, QObject, QTimer
from PyQt6.QtWidgets import QVBoxLayout, QWidget
from vtkmodules.util.numpy_support import numpy_to_vtk
from vtkmodules.vtkCommonDataModel import vtkImageData, vtkPiecewiseFunction
from vtkmodules.vtkRenderingCore import vtkColorTransferFunction, vtkVolume, vtkVolumeProperty
from vtkmodules.vtkRenderingVolumeOpenGL2 import vtkSmartVolumeMapper

from app.state import CursorModel, ImageLayer, ImageModel, ImageStats
from app.state.layers import LayerList
from app.viewers.annotations import VIEW_COLORS, ViewAnnotations
from app.viewers.cursor_lines import CursorLines
from app.viewers.hippocampus_meshes import HippocampusMeshes
from app.viewers.interactor import close_interactor, make_interactor

MAX_DIM = 128
#: ``VOLTA_VOLUME_RENDERING=gpu|cpu`` overrides the automatic choice of ray caster.
RENDERING_ENV = "VOLTA_VOLUME_RENDERING"
_SOFTWARE_GL = ("llvmpipe", "softpipe", "swiftshader", "software rasterizer")
# The cursor moves many times a second while scrolling; the 3D view follows at this pace.
_CURSOR_RENDER_DELAY_MS = 120
# Meshes are rebuilt this long after the last layer change or edit (painting changes the labels
# many times a second; one new prediction adds two layers).
_MESH_DELAY_MS = 150
#: While hippocampus surfaces are shown, the head's opacity is scaled by this, so the surfaces
#: inside it show through a faint head (View > Fade the scan in 3D while surfaces are shown).
SURFACE_FADE = 0.03


def downsample_for_rendering(data: np.ndarray, max_dim: int = MAX_DIM) -> tuple[np.ndarray, int]:
    """Stride ``data`` so no side exceeds ``max_dim``; returns the array (Fortran order) and stride."""
    stride = max(1, math.ceil(max(data.shape) / max_dim))
    small = np.asfortranarray(data[::stride, ::stride, ::stride], dtype=np.float32)
    return small, stride


_HEAD_OPACITY = ((0.0, 0.0), (0.15, 0.0), (0.28, 0.08), (0.45, 0.55), (0.7, 0.85), (1.0, 0.95))


def head_opacity(stats: ImageStats, scale: float = 1.0) -> vtkPiecewiseFunction:
    """The head's opacity curve (see :func:`head_transfer_functions`), every alpha times ``scale``."""
    low, high = stats.p0_5, stats.p99_5
    span = max(high - low, 1e-6)
    opacity = vtkPiecewiseFunction()
    for fraction, alpha in _HEAD_OPACITY:
        opacity.AddPoint(low + fraction * span, alpha * scale)
    return opacity


def head_transfer_functions(stats: ImageStats) -> tuple[vtkPiecewiseFunction, vtkColorTransferFunction]:
    """Opacity and colour for a T1 head: air and noise clear, tissue nearly opaque so the cutaway
    shows crisp grey and white matter, colours from warm grey to white."""
    low, high = stats.p0_5, stats.p99_5
    span = max(high - low, 1e-6)
    opacity = head_opacity(stats)
    color = vtkColorTransferFunction()
    for fraction, rgb in ((0.0, (0.0, 0.0, 0.0)), (0.25, (0.5, 0.3, 0.25)), (0.45, (0.72, 0.56, 0.52)),
                          (0.7, (0.93, 0.87, 0.82)), (1.0, (1.0, 1.0, 1.0))):
        color.AddRGBPoint(low + fraction * span, *rgb)
    return opacity, color


class VolumeView(QWidget):
    """Volume rendering of the current scan with the hippocampus surfaces of the label layers;
    rotate with the left mouse button, zoom with the wheel. ``set_clipping(True)`` removes the
    head above the cursor's axial plane so both hippocampi show."""

    def __init__(self, image: ImageModel, cursor: CursorModel, parent: QWidget | None = None,
                 layers: LayerList | None = None) -> None:
        super().__init__(parent)
        self._layers = layers if layers is not None else LayerList()
        self.clipping = False
        self.fade_with_surfaces = True
        self.faded = False
        self._opacity_full: vtkPiecewiseFunction | None = None
        self._opacity_faded: vtkPiecewiseFunction | None = None
        self.name = "3d"
        self.setObjectName("3d_view")
        self._image, self._cursor = image, cursor
        self.plotter = make_interactor(self)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plotter)
        self.renderer = self.plotter.renderer
        self._mode_chosen = False
        self._render_timer = QTimer(self)
        self._render_timer.setSingleShot(True)
        self._render_timer.setInterval(_CURSOR_RENDER_DELAY_MS)
        self._render_timer.timeout.connect(self.render)
        self._mesh_timer = QTimer(self)
        self._mesh_timer.setSingleShot(True)
        self._mesh_timer.setInterval(_MESH_DELAY_MS)
        self._mesh_timer.timeout.connect(self.rebuild_meshes)
        self._build_pipeline()
        self.plotter.installEventFilter(self)
        image.changed.connect(self._on_image_changed)
        cursor.changed.connect(self._on_cursor_changed)
        self._layers.changed.connect(self._on_layers_changed)
        self._on_image_changed(image.layer)

    def _build_pipeline(self) -> None:
        self._image_data = vtkImageData()
        self.mapper = vtkSmartVolumeMapper()
        self.mapper.SetInputData(self._image_data)
        self.mapper.SetBlendModeToComposite()
        self.mapper.CroppingOn()
        self.property = vtkVolumeProperty()
        self.property.SetInterpolationTypeToLinear()
        self.property.ShadeOn()
        self.property.SetAmbient(0.5)
        self.property.SetDiffuse(0.85)
        self.property.SetSpecular(0.15)
        self.volume = vtkVolume()
        self.volume.SetMapper(self.mapper)
        self.volume.SetProperty(self.property)
        self.renderer.AddVolume(self.volume)
        self.cursor_lines = CursorLines({axis: VIEW_COLORS[axis] for axis in range(3)})
        self.renderer.AddActor(self.cursor_lines.actor)
        self.annotations = ViewAnnotations(self.renderer, "3D", (0.75, 0.8, 0.9), with_edges=False)
        self.meshes = HippocampusMeshes(self.renderer)
        from vtkmodules.vtkCommonDataModel import vtkPlane

        self._clip_plane = vtkPlane()
        self._clip_plane.SetNormal(0.0, 0.0, -1.0)  # keep what lies below the cursor's axial plane

    # model -> view ----------------------------------------------------------------------------
    def _on_image_changed(self, layer: ImageLayer | None) -> None:
        self.volume.SetVisibility(layer is not None and self._layers.scan_visible)
        self.cursor_lines.actor.SetVisibility(layer is not None)
        self.annotations.set_visible(layer is not None)
        if layer is None:
            self._image_data.Initialize()
            self.meshes.clear()
            self.render()
            return
        small, stride = downsample_for_rendering(layer.display.data)
        image = vtkImageData()
        image.SetDimensions(*small.shape)
        image.SetSpacing(*(layer.display_spacing * stride))
        image.SetOrigin(*layer.display_origin)
        image.GetPointData().SetScalars(numpy_to_vtk(small.reshape(-1, order="F"), deep=True))
        self._image_data.ShallowCopy(image)
        self._image_data.Modified()
        opacity, color = head_transfer_functions(layer.stats)
        self._opacity_full, self._opacity_faded = opacity, head_opacity(layer.stats, SURFACE_FADE)
        self.faded = False
        self.property.SetScalarOpacity(opacity)
        self.property.SetColor(color)
        self.property.SetScalarOpacityUnitDistance(float(np.min(layer.display_spacing)) * stride)
        self.annotations.set_info(f"{small.shape[0]}x{small.shape[1]}x{small.shape[2]} rendering", "")
        self._update_cursor_lines()
        self.rebuild_meshes()
        self.reset_camera()
        self.render()

    def _on_layers_changed(self, field: str) -> None:
        if field == "style":  # the scan layer's eye: its volume rendering follows at once
            visible = self._image.layer is not None and self._layers.scan_visible
            if bool(self.volume.GetVisibility()) != visible:
                self.volume.SetVisibility(visible)
                self.render()
        # coalesce: adding a prediction changes the layers twice, painting many times a second
        self._mesh_timer.start()

    def rebuild_meshes(self) -> None:
        """Rebuild the hippocampus surfaces from the visible label layers and repaint."""
        self._mesh_timer.stop()
        layer = self._image.layer
        if layer is None:
            self.meshes.clear()
        else:
            self.meshes.rebuild(self._layers, layer.display_spacing, layer.display_origin, layer.display.shape)
        self._apply_fade()
        self.render()

    def set_fade(self, on: bool) -> None:
        """Fade the head while hippocampus surfaces are shown (on by default), so they show inside it."""
        self.fade_with_surfaces = bool(on)
        self._apply_fade()
        self.render()

    def _apply_fade(self) -> None:
        fade = self.fade_with_surfaces and bool(self.meshes.actors) and self._opacity_faded is not None
        if fade != self.faded and self._opacity_full is not None:
            self.property.SetScalarOpacity(self._opacity_faded if fade else self._opacity_full)
            self.faded = fade

    def set_clipping(self, on: bool) -> None:
        """Clip the volume rendering at the cursor's axial plane (the meshes stay whole)."""
        self.clipping = bool(on)
        self.mapper.RemoveAllClippingPlanes()
        if self.clipping:
            self.mapper.AddClippingPlane(self._clip_plane)
        self._update_cursor_lines()
        self.render()

    def _on_cursor_changed(self, _position: np.ndarray) -> None:
        if self._image.layer is None:
            return
        self._update_cursor_lines()
        self._render_timer.start()

    def _update_cursor_lines(self) -> None:
        layer = self._image.layer
        if layer is not None:
            self.cursor_lines.update(self._cursor.position, layer.world_bounds)
            self._update_cutaway(layer)
            self._clip_plane.SetOrigin(*self._cursor.position)

    def _update_cutaway(self, layer: ImageLayer) -> None:
        """Cut away the octant between the cursor and the camera (left, anterior, superior) so
        the tissue at the cursor's three planes shows through the scalp."""
        x, y, z = self._cursor.position
        (x0, x1), (y0, y1), (z0, z1) = layer.world_bounds
        pad = float(np.max(layer.display_spacing)) * 4
        self.mapper.SetCroppingRegionPlanes(x, x1 + pad, y0 - pad, y, z0 - pad, z)
        # regions are numbered i + 3j + 9k for x, y, z below / between / above the planes;
        # drop region (x < cursor, y > cursor, z > cursor) = 0 + 3*2 + 9*2
        self.mapper.SetCroppingRegionFlags(((1 << 27) - 1) & ~(1 << 24))

    def reset_camera(self) -> None:
        """Look at the face from the front-left and above, the whole head in view."""
        layer = self._image.layer
        if layer is None:
            return
        center = layer.world_center
        radius = float(np.linalg.norm(layer.world_bounds[:, 1] - layer.world_bounds[:, 0])) / 2.0
        camera = self.renderer.GetActiveCamera()
        camera.ParallelProjectionOff()
        direction = np.array([-0.55, 1.0, 0.35])
        direction /= np.linalg.norm(direction)
        camera.SetFocalPoint(*center)
        distance = radius * 2.9
        camera.SetPosition(*(center + direction * distance))
        camera.SetViewUp(0.0, 0.0, 1.0)
        camera.SetViewAngle(30.0)
        # explicit: pyvista's automatic clipping range ignores volumes and cuts into the head
        camera.SetClippingRange(max(distance - 2.0 * radius, 1.0), distance + 2.0 * radius)

    def focus_on(self, center: np.ndarray, distance_mm: float = 230.0) -> None:
        """Look at ``center`` from the front-left and above, from ``distance_mm`` away."""
        camera = self.renderer.GetActiveCamera()
        direction = np.array([-0.55, 1.0, 0.8])
        direction /= np.linalg.norm(direction)
        camera.SetFocalPoint(*center)
        camera.SetPosition(*(np.asarray(center) + direction * distance_mm))
        camera.SetViewUp(0.0, 0.0, 1.0)
        camera.SetViewAngle(30.0)
        camera.SetClippingRange(max(distance_mm - 200.0, 1.0), distance_mm + 200.0)

    # life cycle -------------------------------------------------------------------------------
    def eventFilter(self, watched: QObject | None, event: QEvent | None) -> bool:  # noqa: N802
        """VTK rotates/zooms the camera itself; keys are swallowed (pyvista's 'q' would close it)."""
        if watched is self.plotter and event is not None and event.type() in (
                QEvent.Type.KeyPress, QEvent.Type.KeyRelease):
            return True
        return False

    def render(self) -> None:
        if self.plotter is not None and self.isVisible():
            self._render_timer.stop()
            if not self._mode_chosen:
                self._choose_render_mode()
            self.plotter.update()  # rendered once, in the interactor's paint handler

    def _choose_render_mode(self) -> None:
        """GPU ray casting, except on software OpenGL (Mesa llvmpipe: VMs, remote desktops,
        Xvfb) where VTK's multi-threaded CPU ray caster is about ten times faster."""
        self._mode_chosen = True
        choice = os.environ.get(RENDERING_ENV, "").lower()
        if not choice:
            caps = (self.plotter.ren_win.ReportCapabilities() or "").lower()
            choice = "cpu" if any(name in caps for name in _SOFTWARE_GL) else "gpu"
        if choice == "cpu":
            self.mapper.SetRequestedRenderModeToRayCast()
        else:
            self.mapper.SetRequestedRenderModeToDefault()

    def showEvent(self, event) -> None:  # noqa: N802, ANN001
        super().showEvent(event)
        self.render()

    def screenshot(self) -> np.ndarray:
        """The rendered view as ``(height, width, 3)`` uint8 RGB."""
        self.plotter.render()
        return np.asarray(self.plotter.screenshot(return_img=True))

    def close_view(self) -> None:
        """Disconnect from the models and release the render window."""
        self._render_timer.stop()
        self._mesh_timer.stop()
        self._layers.changed.disconnect(self._on_layers_changed)
        self.meshes.clear()
        self._image.changed.disconnect(self._on_image_changed)
        self._cursor.changed.disconnect(self._on_cursor_changed)
        self.plotter.removeEventFilter(self)
        close_interactor(self.plotter)
        self.plotter = None
