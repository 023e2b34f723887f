"""The scene: everything the window shows and edits, in one Qt-free object that features observe.

Features (the menu groups in ``app/features``) never call each other: they read and change the
scene and listen to its signals. Where one feature needs an answer from another (may unsaved
corrections be dropped? save this mask now), it asks a :class:`Request` on the scene, which the
answering feature handles.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from app.state.cursor import CursorModel
from app.state.display import DisplayOptions
from app.state.edit_history import EditHistory
from app.state.image_layer import ImageLayer, ImageModel
from app.state.display_grid import DisplayIndex
from app.state.layers import ALTERNATE_COLORS, DEFAULT_COLORS, LABELS, PROBABILITY, LayerList, OverlayLayer
from app.state.mask_editor import MaskEditor
from app.state.segmentation import Segmentation
from app.state.signal import Request, Signal


class Scene:
    """Image, cursor, display options, overlay layers, mask editor, undo history and the current
    segmentation (the one the results panel shows, the editor paints and the exports write).

    Signals:
        current_changed(Segmentation | None): another segmentation became current.
        prediction_added(Segmentation): a model run finished and its layers were added.
        model_requested(Path, bool): make this bundle the model for inference (announce it if True).
        run_requested(): run the chosen model on the open scan.
        models_changed(): the model folder changed (a model was registered, renamed or deleted).
        reset_views_requested(): fit every view to the scan again.

    Requests (answered by one feature each):
        confirm_discard(action) -> bool: may unsaved corrections go before ``action``? (True: yes)
        save_mask(Segmentation) -> bool: ask where, and write this mask now (False: not written).
    """

    def __init__(self) -> None:
        self.image = ImageModel()
        self.cursor = CursorModel()
        self.display = DisplayOptions()
        self.layers = LayerList()
        self.history = EditHistory()
        self.editor = MaskEditor(self.history)
        self.current: Segmentation | None = None
        self.current_changed = Signal()
        self.prediction_added = Signal()
        self.model_requested = Signal()
        self.run_requested = Signal()
        self.models_changed = Signal()
        self.reset_views_requested = Signal()
        self.confirm_discard = Request(default=True)
        self.save_mask = Request(default=False)
        self.image.changed.connect(self._on_image_changed)

    # the current segmentation -------------------------------------------------------------------
    def set_current(self, segmentation: Segmentation | None) -> None:
        """Make ``segmentation`` the one shown in the results, edited and exported."""
        self.current = segmentation
        self.editor.set_target(segmentation)
        self.current_changed.emit(segmentation)

    def predictions(self) -> list[Segmentation]:
        return [s for s in self.layers.segmentations() if s.is_prediction]

    def remove(self, segmentation: Segmentation) -> None:
        """Drop a segmentation's layers and undo steps; another prediction becomes current."""
        self.layers.remove_segmentation(segmentation)
        self.history.forget(segmentation)
        if segmentation is self.current:
            remaining = self.predictions()
            self.set_current(remaining[-1] if remaining else None)

    def _on_image_changed(self, _layer: ImageLayer | None) -> None:
        # another scan (or none): its overlays, undo steps and current segmentation go with the old one
        self.layers.clear()
        self.history.forget()
        self.set_current(None)

    def add_prediction(self, prediction: Any, index: DisplayIndex, probability: np.ndarray,
                       display_labels: np.ndarray, intended_use: str = "") -> Segmentation:
        """A finished model run as a segmentation with a (hidden) probability layer and a mask layer
        (a second model's mask in other colours), made current.

        Args:
            prediction: the ``volta_core.infer.Prediction``.
            index: the scan's display mapping; probability, display_labels: ``(X, Y, Z)`` uint8 on it.
            intended_use: the model card's intended use (the results panel and the report quote it).
        """
        name = self._unique_name(prediction.model.name)
        seg = Segmentation(name, prediction.labels, prediction.affine, index, prediction, probability,
                           source=prediction.model.bundle, display=display_labels)
        seg.intended_use = intended_use
        colors = dict(ALTERNATE_COLORS if self.predictions() else DEFAULT_COLORS)
        self.layers.add(OverlayLayer(f"{name} probability", PROBABILITY, seg, visible=False, opacity=0.7))
        self.layers.add(OverlayLayer(f"{name} mask", LABELS, seg, opacity=0.5, colors=colors))
        self.set_current(seg)
        return seg

    def _unique_name(self, name: str) -> str:
        names = {s.name for s in self.layers.segmentations()}
        if name not in names:
            return name
        n = 2
        while f"{name} ({n})" in names:
            n += 1
        return f"{name} ({n})"

    # navigation ---------------------------------------------------------------------------------
    def hippocampus_position(self, label: int) -> np.ndarray | None:
        """The display voxel centre nearest the current segmentation's label ``label`` centroid
        (so every view shows the slice through it); None without a scan, a segmentation or that label."""
        seg, layer = self.current, self.image.layer
        if seg is None or layer is None:
            return None
        center = seg.centroid_world(label)
        if center is None:
            return None
        index = np.rint(layer.display_index(center))
        return layer.clamp_to_bounds(layer.display_origin + index * layer.display_spacing)

    def request_model(self, bundle: Path, announce: bool = True) -> None:
        """Ask the inference feature to use ``bundle`` (it asks about unsaved corrections first)."""
        self.model_requested.emit(Path(bundle), announce)
