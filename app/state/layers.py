"""The overlay layers drawn over the scan (label maps, probability maps) and how each is shown."""

from __future__ import annotations

from dataclasses import dataclass, field

from app.state.segmentation import LEFT, RIGHT, Segmentation
from app.state.signal import Signal

#: Colours used for the two hippocampi everywhere (slice overlays, 3D meshes, report, panels).
DEFAULT_COLORS: dict[int, tuple[float, float, float]] = {
    LEFT: (1.0, 0.55, 0.1), RIGHT: (0.15, 0.8, 1.0),   # hippocampus
    3: (0.95, 0.3, 0.75), 4: (0.6, 0.45, 1.0),         # amygdala (models that segment it)
    5: (1.0, 0.95, 0.3), 6: (0.3, 1.0, 0.6),           # inferior lateral ventricle
}
#: A second model's labels get other hues so two predictions can be told apart.
ALTERNATE_COLORS: dict[int, tuple[float, float, float]] = {LEFT: (1.0, 0.2, 0.55), RIGHT: (0.45, 1.0, 0.35)}

LABELS, PROBABILITY = "labels", "probability"


@dataclass
class OverlayLayer:
    """One overlay: a segmentation shown as labels, or its probability map as a heat map."""

    name: str
    kind: str  # LABELS or PROBABILITY
    segmentation: Segmentation
    visible: bool = True
    opacity: float = 0.5
    outline: bool = False
    colors: dict[int, tuple[float, float, float]] = field(default_factory=lambda: dict(DEFAULT_COLORS))


class LayerList:
    """Overlays in drawing order (first drawn first, i.e. at the bottom) plus the scan's own style.

    ``changed`` is emitted with ``"layers"`` (added, removed, reordered), ``"style"`` (visibility,
    opacity, colour, outline) or ``"data"`` (a segmentation was edited).
    """

    def __init__(self) -> None:
        self.layers: list[OverlayLayer] = []
        self.scan_visible = True
        self.scan_opacity = 1.0
        self.changed = Signal()

    def __iter__(self):
        return iter(self.layers)

    def __len__(self) -> int:
        return len(self.layers)

    def add(self, layer: OverlayLayer) -> None:
        self.layers.append(layer)
        if len(self._users(layer.segmentation)) == 1:
            layer.segmentation.changed.connect(self._on_data)
        self.changed.emit("layers")

    def remove_segmentation(self, segmentation: Segmentation) -> None:
        """Drop every layer showing ``segmentation``."""
        self.layers = [layer for layer in self.layers if layer.segmentation is not segmentation]
        segmentation.changed.disconnect(self._on_data)
        self.changed.emit("layers")

    def clear(self) -> None:
        for seg in self.segmentations():
            seg.changed.disconnect(self._on_data)
        self.layers = []
        self.changed.emit("layers")

    def move(self, layer: OverlayLayer, steps: int) -> None:
        """Move a layer ``steps`` places towards the top (positive) or bottom (negative)."""
        i = self.layers.index(layer)
        j = max(0, min(len(self.layers) - 1, i + steps))
        if i != j:
            self.layers.insert(j, self.layers.pop(i))
            self.changed.emit("layers")

    def set_style(self, layer: OverlayLayer, **style: object) -> None:
        """Change ``visible``, ``opacity``, ``outline`` or ``colors`` of a layer."""
        for key, value in style.items():
            if key not in ("visible", "opacity", "outline", "colors"):
                raise ValueError(f"unknown layer style {key!r}")
            setattr(layer, key, value)
        self.changed.emit("style")

    def set_scan_style(self, visible: bool | None = None, opacity: float | None = None) -> None:
        if visible is not None:
            self.scan_visible = bool(visible)
        if opacity is not None:
            self.scan_opacity = float(opacity)
        self.changed.emit("style")

    def segmentations(self) -> list[Segmentation]:
        """Distinct segmentations, in drawing order."""
        out: list[Segmentation] = []
        for layer in self.layers:
            if layer.segmentation not in out:
                out.append(layer.segmentation)
        return out

    def label_layers(self) -> list[OverlayLayer]:
        return [layer for layer in self.layers if layer.kind == LABELS]

    def _users(self, segmentation: Segmentation) -> list[OverlayLayer]:
        return [layer for layer in self.layers if layer.segmentation is segmentation]

    def _on_data(self) -> None:
        self.changed.emit("data")
