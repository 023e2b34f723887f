"""Smoothed surface meshes of the label layers' hippocampi for the 3D view (built in the GUI thread:
meshes come from small cropped boxes, a few milliseconds each)."""

from __future__ import annotations

import numpy as np
from vtkmodules.vtkRenderingCore import vtkRenderer

from app.state.layers import LayerList


def label_surface(display_labels: np.ndarray, label: int, spacing: np.ndarray, origin: np.ndarray,
                  box: tuple[slice, slice, slice] | None = None):
    """A smoothed ``pyvista.PolyData`` surface of one label on the display grid (None if empty).

    Args:
        box: only look inside this part of the grid (the segmentation's display box).
    """
    import pyvista as pv

    if box is not None:
        origin = origin + np.array([b.start for b in box]) * spacing
        display_labels = display_labels[box]
    mask = display_labels == label
    idx = np.argwhere(mask)
    if idx.shape[0] < 4:
        return None
    lo = np.maximum(idx.min(axis=0) - 2, 0)
    hi = np.minimum(idx.max(axis=0) + 3, display_labels.shape)
    box = mask[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]].astype(np.float32)
    grid = pv.ImageData(dimensions=box.shape, spacing=tuple(spacing), origin=tuple(origin + lo * spacing))
    grid.point_data["mask"] = box.ravel(order="F")
    surface = grid.contour([0.5], scalars="mask")
    if surface.n_points == 0:
        return None
    return surface.smooth_taubin(n_iter=30, pass_band=0.1)


class HippocampusMeshes:
    """Keeps one actor per (visible label layer, label) in ``renderer``."""

    def __init__(self, renderer: vtkRenderer) -> None:
        self._renderer = renderer
        self.actors: list = []

    def rebuild(self, layers: LayerList, spacing: np.ndarray | None, origin: np.ndarray | None,
                shape: tuple[int, int, int] | None) -> None:
        """Replace the meshes with those of the visible label layers (nothing without a scan)."""
        import pyvista as pv

        self.clear()
        if spacing is None or origin is None or shape is None:
            return
        for layer in layers.label_layers():
            if not layer.visible or layer.segmentation.display.shape != tuple(shape):
                continue
            box = layer.segmentation.display_box()
            for label, color in layer.colors.items():
                surface = label_surface(layer.segmentation.display, label, spacing, origin, box)
                if surface is None:
                    continue
                mapper = pv.DataSetMapper(surface)
                mapper.ScalarVisibilityOff()
                actor = pv.Actor(mapper=mapper)
                prop = actor.GetProperty()
                prop.SetColor(*color)
                prop.SetSpecular(0.3)
                prop.SetDiffuse(0.9)
                prop.SetAmbient(0.25)
                self._renderer.AddActor(actor)
                self.actors.append(actor)

    def clear(self) -> None:
        for actor in self.actors:
            self._renderer.RemoveActor(actor)
        self.actors = []
