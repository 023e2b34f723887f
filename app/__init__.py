"""VolTA-3D Studio: the PyQt6 desktop app.

Layers, top to bottom (import-linter contracts in pyproject.toml): ``main_window`` (the
composition root) > ``features`` (one module per menu group, each given the scene and a shell) >
``panels``, ``viewers``, ``workers``, ``training`` (widgets and threads) > ``jobs`` (training jobs,
Qt-free) > ``state`` (the Qt-free scene and models).
"""

from __future__ import annotations

__version__ = "0.1.0"
