"""The brush's circle, drawn under the mouse in a slice view while edit mode is on."""

from __future__ import annotations

from vtkmodules.vtkFiltersSources import vtkRegularPolygonSource
from vtkmodules.vtkRenderingCore import vtkActor, vtkPolyDataMapper

_Z = 0.6  # in front of the overlay and the crosshair


class BrushOutline:
    """A circle in plane coordinates (mm), hidden until ``place`` is called."""

    def __init__(self) -> None:
        self._source = vtkRegularPolygonSource()
        self._source.SetNumberOfSides(48)
        self._source.GeneratePolygonOff()
        self._source.GeneratePolylineOn()
        mapper = vtkPolyDataMapper()
        mapper.SetInputConnection(self._source.GetOutputPort())
        self.actor = vtkActor()
        self.actor.SetMapper(mapper)
        prop = self.actor.GetProperty()
        prop.SetColor(1.0, 1.0, 0.6)
        prop.SetLineWidth(1.5)
        prop.LightingOff()
        self.actor.SetPickable(False)
        self.actor.SetVisibility(False)

    def place(self, u: float, v: float, radius_mm: float) -> None:
        self._source.SetCenter(u, v, _Z)
        self._source.SetRadius(max(radius_mm, 0.5))
        self.actor.SetVisibility(True)
