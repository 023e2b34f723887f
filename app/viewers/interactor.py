"""Creating and closing the pyvistaqt ``QtInteractor`` every view embeds."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from PyQt6.QtWidgets import QWidget

if TYPE_CHECKING:
    from pyvistaqt import QtInteractor

#: View background: near-black with a hint of blue, as in most radiology workstations.
BACKGROUND = (0.03, 0.035, 0.045)


def make_interactor(parent: QWidget) -> QtInteractor:
    """A ``QtInteractor`` that renders only when asked and ignores drops (the window handles them).

    pyvistaqt (and through it pyvista and matplotlib) is imported here, not at module level:
    that import costs over a second and must not delay the first paint of the main window.
    """
    os.environ.setdefault("QT_API", "pyqt6")
    from pyvistaqt import QtInteractor

    plotter = QtInteractor(parent=parent, auto_update=False, multi_samples=0)
    plotter.setAcceptDrops(False)
    plotter.set_background(BACKGROUND)
    return plotter


def close_interactor(plotter: Any) -> None:
    """Release the render window and its OpenGL resources (safe to call twice)."""
    if plotter is None:
        return
    plotter.close()
    plotter.deleteLater()
