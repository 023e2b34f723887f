"""Where the app's bundled files are: in a source checkout and in a PyInstaller bundle.

Standard library only, so the GUI finds its icons, configs and bundled models at start-up
without importing nibabel or torch.
"""

from __future__ import annotations

import sys
from pathlib import Path


def install_root() -> Path:
    """The folder that holds ``resources/`` and ``configs/``: ``sys._MEIPASS`` when frozen by
    PyInstaller, else the repository."""
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        return Path(bundle)
    return Path(__file__).resolve().parents[2]


def resources_root() -> Path:
    """The ``resources`` folder (icons, bundled models, template, sample scan, licences)."""
    return install_root() / "resources"


def configs_dir() -> Path:
    """The shipped ``configs/`` folder (beside ``resources/`` in a packaged app)."""
    return install_root() / "configs"
