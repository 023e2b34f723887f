"""Qt-free models of what the GUI shows (testable without a QApplication)."""

from __future__ import annotations

from app.state.cursor import CursorModel
from app.state.display import COLORMAPS, VIEW_NAMES, DisplayOptions, Layout
from app.state.image_layer import ImageLayer, ImageModel, VoxelSample
from app.state.image_stats import PRESETS, ImageStats, preset_range
from app.state.recent_files import RecentFiles
from app.state.signal import Signal

__all__ = [
    "COLORMAPS",
    "PRESETS",
    "VIEW_NAMES",
    "CursorModel",
    "DisplayOptions",
    "ImageLayer",
    "ImageModel",
    "ImageStats",
    "Layout",
    "RecentFiles",
    "Signal",
    "VoxelSample",
    "preset_range",
]
