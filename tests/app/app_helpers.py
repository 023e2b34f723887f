"""Helpers shared by the app tests (a uniquely named module: ``conftest`` names clash across folders)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def open_and_wait(qtbot, window, path: Path, timeout: int = 30_000):
    """Open ``path`` and wait until the window shows it; returns the ImageLayer."""
    with qtbot.waitSignal(window.scan_loaded, timeout=timeout) as blocker:
        window.open_path(path)
    qtbot.wait(20)
    return blocker.args[0]


def non_background_fraction(image: np.ndarray) -> float:
    """Fraction of pixels clearly brighter than the near-black view background."""
    return float((image.astype(int).max(axis=2) > 40).mean())
