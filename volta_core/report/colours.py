"""Label colours, chosen by structure name so they match the app whatever the label numbers.

The RGB values are the app's overlay colours (``app.state.layers.DEFAULT_COLORS``, labels
1..6 = left/right hippocampus, amygdala, inferior lateral ventricle); ``volta_core`` may not
import ``app``, so they are repeated here and a test keeps the two tables equal.
"""

from __future__ import annotations

RGB = tuple[float, float, float]

#: colour per structure name as in ``volta_core.contracts.prediction.label_names_for``
STRUCTURE_COLOURS: dict[str, RGB] = {
    "left hippocampus": (1.0, 0.55, 0.1),
    "right hippocampus": (0.15, 0.8, 1.0),
    "left amygdala": (0.95, 0.3, 0.75),
    "right amygdala": (0.6, 0.45, 1.0),
    "left inferior lateral ventricle": (1.0, 0.95, 0.3),
    "right inferior lateral ventricle": (0.3, 1.0, 0.6),
}
#: for labels with other names (a label map from elsewhere): distinct hues, none of the above
FALLBACK_COLOURS: tuple[RGB, ...] = (
    (0.9, 0.1, 0.1), (0.1, 0.9, 0.2), (0.95, 0.95, 0.95), (0.55, 0.3, 0.1), (0.2, 0.4, 1.0), (0.7, 0.7, 0.0),
)


def label_colour(label: int, name: str) -> RGB:
    """The colour of one label: by its name when known, else a fixed hue picked by its number."""
    key = " ".join(name.lower().replace("_", " ").split())
    if key in STRUCTURE_COLOURS:
        return STRUCTURE_COLOURS[key]
    return FALLBACK_COLOURS[label % len(FALLBACK_COLOURS)]


def hex_colour(rgb: RGB) -> str:
    """``#rrggbb`` for HTML."""
    return "#" + "".join(f"{round(max(0.0, min(1.0, c)) * 255):02x}" for c in rgb)
