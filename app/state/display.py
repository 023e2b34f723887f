"""How images are shown: window/level, colour map, radiological convention, layout."""

from __future__ import annotations

from enum import Enum

from app.state.signal import Signal

COLORMAPS = ("gray", "inverted gray", "hot", "viridis")


class Layout(str, Enum):
    """Arrangement of the four views (three slice views and the 3D view)."""

    GRID = "2x2"
    ONE_PLUS_THREE = "1+3"
    SINGLE = "single"


VIEW_NAMES = ("axial", "sagittal", "coronal", "3d")


class DisplayOptions:
    """Display settings shared by every view; ``changed`` is emitted with the changed field name.

    Window/level are in the image's own intensity units: voxels at ``level - window/2`` are black,
    voxels at ``level + window/2`` are white.
    """

    def __init__(self) -> None:
        self._window = 1.0
        self._level = 0.5
        self._colormap = "gray"
        self._radiological = True
        self._layout = Layout.GRID
        self._main_view = "axial"
        self._show_crosshair = True
        self._clipping = False
        self._fade = True
        self.changed = Signal()

    # window / level ---------------------------------------------------------------------------
    @property
    def window(self) -> float:
        return self._window

    @property
    def level(self) -> float:
        return self._level

    def set_window_level(self, window: float, level: float) -> None:
        """Set both at once (one ``changed('window_level')``); the window is kept positive."""
        window = max(float(window), 1e-6)
        level = float(level)
        if (window, level) == (self._window, self._level):
            return
        self._window, self._level = window, level
        self.changed.emit("window_level")

    def set_range(self, low: float, high: float) -> None:
        """Set the window/level so that ``low`` is black and ``high`` is white."""
        if high <= low:
            high = low + 1e-6
        self.set_window_level(high - low, (high + low) / 2.0)

    @property
    def display_range(self) -> tuple[float, float]:
        """``(black, white)`` intensities."""
        return (self._level - self._window / 2.0, self._level + self._window / 2.0)

    # the rest -------------------------------------------------------------------------------
    @property
    def colormap(self) -> str:
        return self._colormap

    def set_colormap(self, name: str) -> None:
        if name not in COLORMAPS:
            raise ValueError(f"unknown colour map {name!r}; choose one of {COLORMAPS}")
        self._set("colormap", name)

    @property
    def radiological(self) -> bool:
        """True: the patient's right is on the screen's left in axial and coronal views."""
        return self._radiological

    def set_radiological(self, value: bool) -> None:
        self._set("radiological", bool(value))

    @property
    def layout(self) -> Layout:
        return self._layout

    def set_layout(self, layout: Layout | str) -> None:
        self._set("layout", Layout(layout))

    @property
    def main_view(self) -> str:
        """The view that is large in the 1+3 layout and shown alone in the single layout."""
        return self._main_view

    def set_main_view(self, name: str) -> None:
        if name not in VIEW_NAMES:
            raise ValueError(f"unknown view {name!r}; choose one of {VIEW_NAMES}")
        self._set("main_view", name)

    @property
    def show_crosshair(self) -> bool:
        return self._show_crosshair

    def set_show_crosshair(self, value: bool) -> None:
        self._set("show_crosshair", bool(value))

    @property
    def clipping(self) -> bool:
        """The 3D view cuts the head with a plane through the cursor."""
        return self._clipping

    def set_clipping(self, value: bool) -> None:
        self._set("clipping", bool(value))

    @property
    def fade(self) -> bool:
        """The 3D view makes the head faint while hippocampus surfaces are shown."""
        return self._fade

    def set_fade(self, value: bool) -> None:
        self._set("fade", bool(value))

    def _set(self, name: str, value: object) -> None:
        if getattr(self, f"_{name}") == value:
            return
        setattr(self, f"_{name}", value)
        self.changed.emit(name)
