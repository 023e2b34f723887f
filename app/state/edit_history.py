"""Undo/redo of mask edits: each step records which voxels changed and their values before/after."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.state.segmentation import Segmentation
from app.state.signal import Signal


@dataclass(frozen=True)
class MaskEdit:
    """One undoable change of a segmentation (e.g. one brush stroke).

    Attributes:
        native: ``(n,)`` flat indices into the scan grid of the changed voxels.
        before, after: ``(n,)`` uint8 label values.
        display: flat display-grid indices touched (to refresh the display copy quickly).
    """

    segmentation: Segmentation
    native: np.ndarray
    before: np.ndarray
    after: np.ndarray
    display: np.ndarray | None = None

    def undo(self) -> None:
        self.segmentation.set_values(self.native, self.before, self.display)

    def redo(self) -> None:
        self.segmentation.set_values(self.native, self.after, self.display)


class EditHistory:
    """A linear undo stack; a new edit after an undo drops the redo branch.

    ``changed`` is emitted (no arguments) whenever ``can_undo``/``can_redo`` may have changed.
    """

    def __init__(self, limit: int = 100) -> None:
        self._done: list[MaskEdit] = []
        self._undone: list[MaskEdit] = []
        self._limit = limit
        self.changed = Signal()

    @property
    def can_undo(self) -> bool:
        return bool(self._done)

    @property
    def can_redo(self) -> bool:
        return bool(self._undone)

    def push(self, edit: MaskEdit) -> None:
        """Record an edit that has already been applied."""
        self._done.append(edit)
        del self._done[:-self._limit]
        self._undone.clear()
        self.changed.emit()

    def undo(self) -> MaskEdit | None:
        if not self._done:
            return None
        edit = self._done.pop()
        edit.undo()
        self._undone.append(edit)
        self.changed.emit()
        return edit

    def redo(self) -> MaskEdit | None:
        if not self._undone:
            return None
        edit = self._undone.pop()
        edit.redo()
        self._done.append(edit)
        self.changed.emit()
        return edit

    def forget(self, segmentation: Segmentation | None = None) -> None:
        """Drop the steps of one segmentation (or all): it was closed or replaced."""
        keep = (lambda e: False) if segmentation is None else (lambda e: e.segmentation is not segmentation)
        self._done = [e for e in self._done if keep(e)]
        self._undone = [e for e in self._undone if keep(e)]
        self.changed.emit()
