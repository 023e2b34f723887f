"""The scene (Qt-free): the current segmentation, what a new scan clears, requests, navigation and
the display mapping built once per scan."""

from __future__ import annotations

import numpy as np
from app_phantom import grid_affine

from app.state import ImageLayer, ImageStats
from app.state.layers import LABELS, OverlayLayer
from app.state.scene import Scene
from app.state.segmentation import LEFT, RIGHT, Segmentation
from app.state.signal import Request
from volta_core.io import Volume, canonical_ras


def _layer(shape=(12, 10, 8), codes="LIA") -> ImageLayer:
    data = np.random.default_rng(0).random(shape, dtype=np.float32)
    volume = Volume(data, grid_affine(codes, 2.0, shape))
    return ImageLayer(volume, canonical_ras(volume), ImageStats.from_array(data), "scan")


def _segmentation(layer: ImageLayer, name: str = "model") -> Segmentation:
    labels = np.zeros(layer.volume.shape, np.uint8)
    labels[2:4, 3:5, 2:4] = LEFT
    labels[7:9, 3:5, 2:4] = RIGHT
    return Segmentation(name, labels, layer.volume.affine, layer.display_mapping)


def test_the_display_mapping_is_built_once_per_scan() -> None:
    layer = _layer()
    assert layer.display_mapping is layer.display_mapping
    assert layer.display_mapping.native_shape == layer.volume.shape
    assert layer.display_mapping.shape == layer.display.shape
    first, second = _segmentation(layer), _segmentation(layer, "second")
    assert first.index is second.index  # every segmentation of the scan shares it


def test_current_segmentation_targets_the_editor_and_is_announced() -> None:
    scene, layer = Scene(), _layer()
    scene.image.set_layer(layer)
    seen: list[object] = []
    scene.current_changed.connect(seen.append)
    seg = _segmentation(layer)
    scene.layers.add(OverlayLayer("model mask", LABELS, seg))
    scene.set_current(seg)
    assert scene.current is seg and scene.editor.target is seg and seen == [seg]
    scene.remove(seg)
    assert scene.current is None and scene.editor.target is None and len(scene.layers) == 0
    assert seen == [seg, None]


def test_a_new_scan_drops_the_old_scans_layers_history_and_current() -> None:
    scene, layer = Scene(), _layer()
    scene.image.set_layer(layer)
    seg = _segmentation(layer)
    scene.layers.add(OverlayLayer("model mask", LABELS, seg))
    scene.set_current(seg)
    scene.editor.set_active(True)
    scene.editor.begin_stroke()
    scene.editor.dab(layer.world_center, 2, layer.display.affine)
    scene.editor.end_stroke()
    assert scene.history.can_undo
    scene.image.set_layer(_layer((10, 10, 10), "RAS"))
    assert scene.current is None and len(scene.layers) == 0 and not scene.history.can_undo


def test_hippocampus_position_is_a_display_voxel_centre_inside_the_scan() -> None:
    scene, layer = Scene(), _layer()
    scene.image.set_layer(layer)
    assert scene.hippocampus_position(LEFT) is None  # no current segmentation
    seg = _segmentation(layer)
    scene.set_current(seg)
    position = scene.hippocampus_position(LEFT)
    index = layer.display_index(position)
    assert np.allclose(index, np.rint(index))
    assert np.linalg.norm(position - seg.centroid_world(LEFT)) <= np.linalg.norm(layer.display_spacing)
    seg.set_values(np.flatnonzero(seg.labels == RIGHT), 0)
    assert scene.hippocampus_position(RIGHT) is None  # that side is empty


def test_requests_are_answered_by_their_one_handler_or_the_default() -> None:
    scene = Scene()
    assert scene.confirm_discard("quit") is True  # nobody guards: nothing to lose
    assert scene.save_mask(object()) is False
    asked: list[str] = []
    scene.confirm_discard.handle(lambda action: asked.append(action) or False)
    assert scene.confirm_discard("switch the model") is False and asked == ["switch the model"]
    request = Request(default=3)
    request.handle(None)
    assert request() == 3


def test_a_second_prediction_gets_its_own_name_and_colours_and_becomes_current() -> None:
    from app.state.layers import ALTERNATE_COLORS, DEFAULT_COLORS, PROBABILITY
    from volta_core.contracts.prediction import ModelInfo, Prediction, QualityReport

    scene, layer = Scene(), _layer()
    scene.image.set_layer(layer)
    index, shape = layer.display_mapping, layer.volume.shape
    labels = _segmentation(layer).labels
    prediction = Prediction(
        labels=labels, probabilities=np.zeros((3, *shape), np.float16), affine=layer.volume.affine,
        volumes_ml={"left": 0.1, "right": 0.1, "total": 0.2}, icv_ml=None, relative_volumes=None,
        asymmetry_index=0.0, classification={}, quality=QualityReport(0.8, True, 0.9, None, ()),
        model=ModelInfo("tiny", "now", "v1", "/bundle"), device="CPU")
    on_display = index.to_display(labels)
    first = scene.add_prediction(prediction, index, np.zeros_like(on_display), on_display, "research only")
    second = scene.add_prediction(prediction, index, np.zeros_like(on_display), on_display)
    assert (first.name, second.name) == ("tiny", "tiny (2)") and first.intended_use == "research only"
    assert scene.current is second and scene.predictions() == [first, second]
    masks = [lay for lay in scene.layers if lay.kind == LABELS]
    assert masks[0].colors[LEFT] == DEFAULT_COLORS[LEFT] and masks[1].colors[LEFT] == ALTERNATE_COLORS[LEFT]
    assert all(not lay.visible for lay in scene.layers if lay.kind == PROBABILITY)
