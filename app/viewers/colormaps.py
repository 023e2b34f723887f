"""Colour tables for the slice views' colour maps (``DisplayOptions.colormap``)."""

from __future__ import annotations

import numpy as np

# Anchor colours (RGB 0..1) sampled evenly from 0 to 1; interpolated to 256 entries.
_ANCHORS: dict[str, list[tuple[float, float, float]]] = {
    "gray": [(0.0, 0.0, 0.0), (1.0, 1.0, 1.0)],
    "inverted gray": [(1.0, 1.0, 1.0), (0.0, 0.0, 0.0)],
    "hot": [(0.0, 0.0, 0.0), (0.9, 0.0, 0.0), (1.0, 0.85, 0.0), (1.0, 1.0, 1.0)],
    "viridis": [(0.267, 0.005, 0.329), (0.229, 0.322, 0.546), (0.128, 0.567, 0.551),
                (0.369, 0.789, 0.383), (0.993, 0.906, 0.144)],
}


def colormap_table(name: str, n: int = 256) -> np.ndarray:
    """``(n, 3)`` RGB values (0..1) of a named colour map."""
    anchors = np.asarray(_ANCHORS[name])
    x = np.linspace(0.0, 1.0, len(anchors))
    t = np.linspace(0.0, 1.0, n)
    return np.stack([np.interp(t, x, anchors[:, c]) for c in range(3)], axis=1)
