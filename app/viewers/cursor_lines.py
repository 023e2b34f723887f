"""Three axis-aligned lines through the cursor for the 3D view, one per slice plane colour."""

from __future__ import annotations

import numpy as np
from vtkmodules.util.numpy_support import numpy_to_vtk
from vtkmodules.vtkCommonCore import vtkPoints, vtkUnsignedCharArray
from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkPolyData
from vtkmodules.vtkRenderingCore import vtkActor, vtkPolyDataMapper


class CursorLines:
    """Line ``axis`` runs along world axis ``axis`` through the cursor, across the scan's bounds.

    Args:
        colors: RGB (0..1) per world axis; the line along x is coloured like the sagittal view
            (whose normal is x), and so on.
    """

    def __init__(self, colors: dict[int, tuple[float, float, float]]) -> None:
        self._xyz = np.zeros((6, 3))
        self._points = vtkPoints()
        self._points.SetData(numpy_to_vtk(self._xyz, deep=False))
        lines = vtkCellArray()
        scalars = vtkUnsignedCharArray()
        scalars.SetNumberOfComponents(3)
        for axis in range(3):
            lines.InsertNextCell(2)
            lines.InsertCellPoint(2 * axis)
            lines.InsertCellPoint(2 * axis + 1)
            scalars.InsertNextTuple3(*(int(round(255 * c)) for c in colors[axis]))
        self._poly = vtkPolyData()
        self._poly.SetPoints(self._points)
        self._poly.SetLines(lines)
        self._poly.GetCellData().SetScalars(scalars)
        mapper = vtkPolyDataMapper()
        mapper.SetInputData(self._poly)
        mapper.SetColorModeToDirectScalars()
        self.actor = vtkActor()
        self.actor.SetMapper(mapper)
        self.actor.GetProperty().SetLineWidth(1.5)
        self.actor.GetProperty().LightingOff()

    def update(self, position: np.ndarray, bounds: np.ndarray) -> None:
        """Move the lines to ``position`` (3,), spanning ``bounds`` (3, 2), world mm."""
        for axis in range(3):
            for end in range(2):
                point = np.asarray(position, dtype=np.float64).copy()
                point[axis] = bounds[axis, end]
                self._xyz[2 * axis + end] = point
        self._points.Modified()
        self._poly.Modified()
