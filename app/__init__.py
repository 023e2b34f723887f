"""VolTA-3D Studio: the PyQt6 desktop app (views, panels, workers)."""

from __future__ import annotations

__version__ = "0.1.0"
