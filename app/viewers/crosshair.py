"""The crosshair of a slice view: two thin lines through the cursor, coloured by plane.

Opaque on purpose: a translucent actor adds a full-screen translucent pass to every render.
"""

from __future__ import annotations

import numpy as np
from vtkmodules.util.numpy_support import numpy_to_vtk
from vtkmodules.vtkCommonCore import vtkPoints, vtkUnsignedCharArray
from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkPolyData
from vtkmodules.vtkRenderingCore import vtkActor, vtkPolyDataMapper

# Slightly in front of the image plane (z = 0) so the lines are never hidden by it.
_Z = 0.5


class Crosshair:
    """A vertical and a horizontal line in plane coordinates, updated in place."""

    def __init__(self, vertical_color: tuple[float, float, float],
                 horizontal_color: tuple[float, float, float]) -> None:
        self._xyz = np.zeros((4, 3))
        self._xyz[:, 2] = _Z
        self._points = vtkPoints()
        self._points.SetData(numpy_to_vtk(self._xyz, deep=False))
        lines = vtkCellArray()
        for a, b in ((0, 1), (2, 3)):
            lines.InsertNextCell(2)
            lines.InsertCellPoint(a)
            lines.InsertCellPoint(b)
        colors = vtkUnsignedCharArray()
        colors.SetNumberOfComponents(3)
        for color in (vertical_color, horizontal_color):
            colors.InsertNextTuple3(*(int(round(255 * c)) for c in color))
        self._poly = vtkPolyData()
        self._poly.SetPoints(self._points)
        self._poly.SetLines(lines)
        self._poly.GetCellData().SetScalars(colors)
        mapper = vtkPolyDataMapper()
        mapper.SetInputData(self._poly)
        mapper.SetColorModeToDirectScalars()
        self.actor = vtkActor()
        self.actor.SetMapper(mapper)
        self.actor.GetProperty().SetLineWidth(1.0)
        self.actor.GetProperty().LightingOff()
        self.actor.SetPickable(False)

    def update(self, u: float, v: float, u_range: tuple[float, float],
               v_range: tuple[float, float]) -> None:
        """Lines through ``(u, v)`` spanning the image's extent (plane coordinates, mm)."""
        self._xyz[0, :2] = (u, v_range[0])
        self._xyz[1, :2] = (u, v_range[1])
        self._xyz[2, :2] = (u_range[0], v)
        self._xyz[3, :2] = (u_range[1], v)
        self._points.Modified()
        self._poly.Modified()
