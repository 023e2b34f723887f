"""The results panel, layers panel, model-card viewer and device menu, built from small models
(no model run: fast)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QLabel, QWidget

from app.state.display_grid import display_index
from app.state.layers import LABELS, PROBABILITY, LayerList, OverlayLayer
from app.state.segmentation import Segmentation

pytestmark = pytest.mark.gui


def _prediction_segmentation(warnings: tuple[str, ...]) -> Segmentation:
    from volta_core.contracts.prediction import (
        ClassResult,
        ModelInfo,
        Prediction,
        QualityReport,
    )
    from volta_core.io import Volume, canonical_ras

    shape = (12, 10, 8)
    labels = np.zeros(shape, np.uint8)
    labels[2:4, 2:4, 2:4] = 1
    labels[6:9, 2:4, 2:4] = 2
    volume = Volume(np.zeros(shape, np.float32), np.diag([1.0, 1.0, 1.0, 1.0]))
    display = canonical_ras(volume)
    prediction = Prediction(
        labels=labels, probabilities=np.zeros((3, *shape), np.float16), affine=volume.affine,
        volumes_ml={"left": 0.008, "right": 0.012, "total": 0.02}, icv_ml=None, relative_volumes=None,
        asymmetry_index=-0.4,
        classification={"sex": ClassResult("sex", True, 0.73, "M"), "ad": ClassResult("ad", False, None, "AD")},
        quality=QualityReport(0.31, False, -0.2, 2.5, warnings),
        model=ModelInfo("demo", "2026-01-01", "v1", "/b"), device="CPU", scan="s")
    return Segmentation("demo", labels, volume.affine, display_index(volume, display.affine, display.shape),
                        prediction)


def test_results_panel_shows_numbers_warnings_and_caveat(qtbot) -> None:
    from app.panels.results_panel import ResultsPanel

    layers = LayerList()
    panel = ResultsPanel(layers)
    qtbot.addWidget(panel)
    assert "Run a model" in panel.model_label.text()
    seg = _prediction_segmentation(("registration to the template is poor", "scan looks unusual"))
    layers.add(OverlayLayer("demo mask", LABELS, seg))
    panel.set_current(seg, "research use only, not for diagnosis")
    assert panel.values["Left hippocampus"].text() == "0.008 mL (ICV not available)"
    assert panel.values["P(male)"].text() == "0.73"
    assert panel.values["P(Alzheimer's disease)"].text() == "not trained: fine-tune on your data"
    assert panel.values["Registration quality"].text().startswith("0.310 (did not converge)")
    assert "below 0.35" in panel.values["Registration quality"].text()  # QUALITY_WARNING_THRESHOLD
    assert panel.values["OOD score"].text().startswith("2.50")
    lines = panel.warnings_widget.findChildren(QWidget, "quality_warning")
    assert len(lines) == 2
    pictures = [label for label in lines[0].findChildren(QLabel) if label.pixmap() is not None
                and not label.pixmap().isNull()]
    assert pictures, "each warning has a warning icon"
    assert "For research use only. Not for diagnosis." in panel.caveat.text()
    # an edit shows up after the panel's short refresh delay, marked as corrected
    seg.set_values(np.array([0, 1, 2]), 1)
    qtbot.waitUntil(lambda: "Left hippocampus (corrected)" in panel.values, timeout=2000)
    assert panel.values["Left hippocampus (corrected)"].text().startswith("0.011 mL")
    panel.disconnect_models()


def test_layers_panel_sets_visibility_opacity_outline_and_order(qtbot) -> None:
    from app.panels.layers_panel import LayersPanel

    layers = LayerList()
    panel = LayersPanel(layers)
    qtbot.addWidget(panel)
    seg = _prediction_segmentation(())
    prob = OverlayLayer("demo probability", PROBABILITY, seg, visible=False)
    mask = OverlayLayer("demo mask", LABELS, seg)
    layers.add(prob)
    layers.add(mask)
    assert [r.name if r else "Scan" for r in panel.rows()] == ["demo mask", "demo probability", "Scan"]
    panel.list.setCurrentRow(0)
    panel.opacity.setValue(20)
    assert mask.opacity == pytest.approx(0.2)
    panel.outline.setChecked(True)
    assert mask.outline
    panel.list.item(1).setCheckState(Qt.CheckState.Checked)
    assert prob.visible
    panel.list.item(2).setCheckState(Qt.CheckState.Unchecked)
    assert not layers.scan_visible
    panel.list.setCurrentRow(0)
    panel.down.click()
    assert layers.layers == [mask, prob]
    panel.disconnect_models()


def test_model_card_dialog_shows_the_card_readably(qtbot, tmp_path) -> None:
    from app.model_dialogs import ModelCardDialog

    card = {"name": "demo model", "intended_use": "research use only, not for diagnosis",
            "heads": {"segmentation": {"trained": True}, "sex": {"trained": False}, "ad": {"trained": False}},
            "metrics": {"dice": {"left": 0.8}}, "created": "2026-01-01T00:00:00+00:00"}
    (tmp_path / "model_card.json").write_text(json.dumps(card))
    dialog = ModelCardDialog(tmp_path)
    qtbot.addWidget(dialog)
    assert dialog.rows["Name"] == "demo model"
    assert dialog.rows["Intended use"] == "research use only, not for diagnosis"
    assert "ad: not trained: fine-tune on your data" in dialog.rows["Heads"]
    assert "left: 0.8" in dialog.rows["Metrics"]


def test_device_menu_offers_only_available_devices(window) -> None:
    from app.devices import available_devices

    available = available_devices()
    actions = window.inference.device_actions
    assert actions["auto"].isChecked() and actions["cpu"].isEnabled()
    for key in ("cuda", "mps"):
        assert actions[key].isEnabled() == (key in available)
    window.inference.set_device("cpu")
    assert actions["cpu"].isChecked() and window.inference.device_label.text() == "Device: cpu"
    assert window.inference.run_action.shortcut().toString() == "Ctrl+R"


@pytest.mark.parametrize(("error", "title"), [
    ("bundle", "Could not load the model"),
    ("device", "Device not available"),
    ("memory", "Out of memory"),
    ("cuda_oom", "Out of memory"),
    ("prediction", "The model failed on this scan"),
    ("other", "Unexpected error while running the model"),
])
def test_run_errors_get_a_clear_title_and_a_hint(error: str, title: str) -> None:
    from app.model_dialogs import describe_run_error
    from volta_core.infer import PredictionError
    from volta_core.contracts.model_card import BundleError
    from volta_core.model.device import DeviceError

    exc = {"bundle": BundleError("model_card.json is missing"), "device": DeviceError("no CUDA GPU"),
           "memory": MemoryError(), "cuda_oom": PredictionError("the model failed on CUDA: CUDA out of memory."),
           "prediction": PredictionError("the scan could not be prepared"), "other": KeyError("x")}[error]
    got_title, message, hint = describe_run_error(exc)
    assert message
    assert got_title == title
    assert "stay open" in hint


def test_menus_are_in_order(window) -> None:
    titles = [a.text() for a in window.menuBar().actions()]
    assert titles == ["&File", "&Edit", "&View", "&Model", "&Training", "&Help"]
