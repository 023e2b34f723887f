"""The model in the app, end to end on the sample scan with a real (tiny) trained bundle:
run, overlays in every view, results, inspection, cancel, two models, loaded label maps."""

from __future__ import annotations

import imageio.v3 as iio
import numpy as np
import pytest
from app_helpers import ARTIFACTS
from inference_helpers import RUN_TIMEOUT_MS, cyan_pixels, orange_pixels, run_and_wait
from PyQt6.QtCore import Qt

pytestmark = pytest.mark.gui


def _grab(view) -> np.ndarray:
    return view.screenshot()


def test_run_shows_overlays_meshes_and_results(qtbot, sample_window) -> None:
    window = sample_window
    assert window.inference.run_action.isEnabled()
    assert "CPU" not in window.inference.device_label.text()  # nothing ran yet: 'auto'
    seg = run_and_wait(qtbot, window)
    prediction = seg.prediction
    assert prediction.volumes_ml["left"] > 1.0 and prediction.volumes_ml["right"] > 1.0
    assert "CPU" in window.inference.device_label.text()

    # the results panel shows exactly the prediction's numbers
    values = window.results_panel.values
    assert values["Left hippocampus"].text().startswith(f"{prediction.volumes_ml['left']:.3f} mL")
    assert values["Right hippocampus"].text().startswith(f"{prediction.volumes_ml['right']:.3f} mL")
    assert f"{prediction.relative_volumes['left']:.3f}% of ICV" in values["Left hippocampus"].text()
    assert values["Asymmetry index"].text() == f"{prediction.asymmetry_index:+.3f}"
    assert values["P(male)"].text().startswith("not trained")
    assert values["Registration quality"].text().startswith(f"{prediction.quality.registration_quality:.3f}")
    assert "research use only" in window.results_panel.caveat.text().lower()

    # overlays: after "Go to hippocampus" every slice view shows orange (left) pixels
    window.display.set_show_crosshair(False)
    assert window.inference.go_to_hippocampus(1)
    qtbot.wait(50)
    ARTIFACTS.mkdir(exist_ok=True)
    views = window.view_grid.slice_views
    shown = {name: _grab(view) for name, view in views.items()}
    mask_layer = window.layers.label_layers()[0]
    window.layers.set_style(mask_layer, visible=False)
    hidden = {name: _grab(view) for name, view in views.items()}
    window.layers.set_style(mask_layer, visible=True)
    for name in views:
        iio.imwrite(ARTIFACTS / f"inference_{name}.png", shown[name])
        added = orange_pixels(shown[name]) - orange_pixels(hidden[name])
        assert added > 100, f"{name}: only {added} left-hippocampus pixels"
    for name in ("axial", "coronal"):  # these planes cut both hippocampi
        assert cyan_pixels(shown[name]) - cyan_pixels(hidden[name]) > 100, name

    # outline mode draws fewer pixels than the filled mask, but still some
    window.layers.set_style(mask_layer, outline=True)
    outline = _grab(views["coronal"])
    window.layers.set_style(mask_layer, outline=False)
    assert 0 < orange_pixels(outline) - orange_pixels(hidden["coronal"]) < orange_pixels(shown["coronal"])

    # the probability heat map
    prob_layer = [lay for lay in window.layers if lay.kind == "probability"][0]
    window.layers.set_style(mask_layer, visible=False)
    window.layers.set_style(prob_layer, visible=True)
    heat = _grab(views["coronal"])
    iio.imwrite(ARTIFACTS / "inference_probability.png", heat)
    assert orange_pixels(heat) - orange_pixels(hidden["coronal"]) > 100
    window.layers.set_style(prob_layer, visible=False)
    window.layers.set_style(mask_layer, visible=True)

    # the 3D view has one smoothed surface per hippocampus
    volume_view = window.view_grid.volume_view
    qtbot.waitUntil(lambda: len(volume_view.meshes.actors) == 2, timeout=5000)
    window.clip_action.setChecked(True)
    iio.imwrite(ARTIFACTS / "inference_3d.png", volume_view.screenshot())

    # the status bar reports label and probability at the cursor (= the clicked voxel)
    text = window.voxel_status.text()
    assert "left hippocampus" in text and "p(hippocampus) =" in text


def test_cancel_stops_a_run_and_keeps_previous_results(qtbot, sample_window) -> None:
    window = sample_window
    first = run_and_wait(qtbot, window)
    before_layers = list(window.layers.layers)
    before_text = window.results_panel.values["Left hippocampus"].text()
    with qtbot.waitSignal(window.inference.run_cancelled, timeout=RUN_TIMEOUT_MS):
        window.inference.run()
        assert window.inference.cancel_button.isVisible()
        qtbot.mouseClick(window.inference.cancel_button, Qt.MouseButton.LeftButton)
    assert not window.inference.is_running
    assert window.layers.layers == before_layers
    assert window.inference.current is first
    assert window.results_panel.values["Left hippocampus"].text() == before_text
    assert window.image.layer is not None


def test_second_model_and_loaded_label_map_show_dice(qtbot, sample_window, tiny_bundle, tmp_path) -> None:
    import json
    import shutil

    window = sample_window
    first = run_and_wait(qtbot, window)
    # a second bundle: same weights, another name -> identical masks, Dice 1
    other = tmp_path / "second-model"
    shutil.copytree(tiny_bundle, other)
    card = json.loads((other / "model_card.json").read_text())
    card["name"] = "second-model"
    (other / "model_card.json").write_text(json.dumps(card))
    assert window.inference.add_bundle(other)
    second = run_and_wait(qtbot, window)
    assert second is not first and window.inference.current is second
    assert second.index is first.index  # the display mapping of the scan is computed once
    assert len([s for s in window.layers.segmentations() if s.is_prediction]) == 2
    window.results_panel.refresh()
    assert window.results_panel.values[f"Dice vs {first.name}"].text() == "left 1.000, right 1.000"

    # a label map from disk (the first mask with the left hippocampus erased): Dice left 0, right 1
    from volta_core.io import save_mask

    labels = first.labels.copy()
    labels[labels == 1] = 0
    path = save_mask(labels, window.image.layer.volume, tmp_path / "manual.nii.gz")
    with qtbot.waitSignal(window.export_actions.label_map_loaded, timeout=60_000) as blocker:
        window.export_actions.load_label_map(path)
    loaded = blocker.args[0]
    assert np.array_equal(loaded.labels, labels)
    window.results_panel.refresh()
    assert window.results_panel.values["Dice vs manual.nii.gz"].text() == "left 0.000, right 1.000"
    assert window.layers_panel.rows()[0].name == "manual.nii.gz (file)"  # newest layer on top

    # selecting the first model's mask in the layers panel makes it the current result
    panel = window.layers_panel
    panel.list.setCurrentRow([lay.name if lay else "" for lay in panel.rows()].index(f"{first.name} mask"))
    assert window.inference.current is first and window.editor.target is first
    # removing the loaded file drops its layer (and its Dice row)
    panel.list.setCurrentRow(0)
    qtbot.mouseClick(panel.remove, Qt.MouseButton.LeftButton)
    assert loaded not in window.layers.segmentations()
    assert window.inference.current is not loaded and window.inference.current in (first, second)
    window.results_panel.refresh()
    assert "Dice vs manual.nii.gz" not in window.results_panel.values
