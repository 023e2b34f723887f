"""The cursor: one world position (RAS+ mm) shared by every view."""

from __future__ import annotations

import numpy as np

from app.state.signal import Signal


class CursorModel:
    """The point all slice views pass through and the crosshair marks.

    ``changed`` is emitted with the new position (a ``(3,)`` float array, RAS+ mm) only when
    the position actually moves.
    """

    def __init__(self) -> None:
        self._position = np.zeros(3)
        self.changed = Signal()

    @property
    def position(self) -> np.ndarray:
        """A copy of the position in RAS+ mm, shape ``(3,)``."""
        return self._position.copy()

    def set_position(self, position: np.ndarray | tuple[float, float, float]) -> None:
        """Move the cursor to ``position`` (RAS+ mm)."""
        new = np.asarray(position, dtype=np.float64).reshape(3)
        if not np.all(np.isfinite(new)):
            raise ValueError(f"cursor position must be finite, got {new}")
        if np.array_equal(new, self._position):
            return
        self._position = new
        self.changed.emit(self.position)

    def set_axis(self, axis: int, value: float) -> None:
        """Move the cursor along one world axis (0 = x/R, 1 = y/A, 2 = z/S)."""
        new = self.position
        new[axis] = float(value)
        self.set_position(new)
