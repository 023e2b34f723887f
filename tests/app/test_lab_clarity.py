"""Numbers that explain themselves, the model card as a page, Help, the 3D view after a run, and a
1280x800 layout: real widgets, the real shipped model and its real card."""

from __future__ import annotations

from pathlib import Path

import pytest
from inference_helpers import cyan_pixels, orange_pixels, run_and_wait

pytestmark = pytest.mark.gui


def _boxes(name: str):
    from PyQt6.QtWidgets import QApplication

    return [w for w in QApplication.topLevelWidgets() if w.objectName() == name and w.isVisible()]


def test_every_result_has_a_tooltip_and_a_help_button(qtbot) -> None:
    from test_inference_panels import _prediction_segmentation

    from app.panels.results_panel import RESULT_HELP_BOX, ResultsPanel
    from app.state.layers import LABELS, LayerList, OverlayLayer

    layers = LayerList()
    panel = ResultsPanel(layers)
    qtbot.addWidget(panel)
    seg = _prediction_segmentation(())  # registration quality 0.41
    layers.add(OverlayLayer("demo mask", LABELS, seg))
    panel.set_current(seg)
    assert set(panel.help_buttons) == set(panel.values)  # every number has a "?"
    for key, value in panel.values.items():
        assert len(value.toolTip()) > 40, key
    asymmetry = panel.help_buttons["Asymmetry index"].toolTip()
    assert "(L - R) / ((L + R) / 2)" in asymmetry and "Positive: left larger" in asymmetry
    assert "mL" in panel.values["Left hippocampus"].toolTip()
    assert "0.35" in panel.help_buttons["Registration quality"].toolTip()
    # 0.41 is below the threshold: the row says so, in the warning colour
    assert "below 0.35" in panel.values["Registration quality"].text()
    assert "#ffb347" in panel.values["Registration quality"].styleSheet()
    panel.help_buttons["Asymmetry index"].click()
    boxes = _boxes(RESULT_HELP_BOX)
    assert boxes and boxes[0].windowTitle() == "Asymmetry index" and "(L - R)" in boxes[0].text()
    boxes[0].close()
    panel.disconnect_models()


def test_registration_quality_warns_below_the_one_threshold() -> None:
    from volta_core.infer.quality import quality_warnings
    from volta_core.preprocess import QUALITY_WARNING_THRESHOLD

    def warnings(quality: float) -> list[str]:
        return quality_warnings(registration_quality=quality, registration_converged=True,
                                template_correlation=0.8, ood_score=0.3, total_ml=7.0)

    assert QUALITY_WARNING_THRESHOLD == 0.35  # derived from 72 real scans
    assert any(w.startswith("registration doubtful") and "0.30" in w for w in warnings(0.30))
    assert not any(w.startswith("registration") for w in warnings(0.46))  # a normal real scan
    assert warnings(0.63) == [] and warnings(0.74) == []  # the shipped model's test scans


def test_model_card_is_a_readable_page_without_machine_paths(qtbot, tmp_path) -> None:
    import json
    import shutil

    from app.model_dialogs import ModelCardDialog
    from app.state.model_catalog import bundled_models_dir

    shipped = bundled_models_dir() / "volta3d-hippocampus"
    card = json.loads((shipped / "model_card.json").read_text())
    dialog = ModelCardDialog(shipped)
    qtbot.addWidget(dialog)
    page = dialog.browser.toPlainText()
    source = dialog.browser.toHtml()
    for heading in ("Intended use", "Limitations", "Heads", "Training data", "Metrics"):
        assert heading in page, heading
    assert "research use only, not for diagnosis" in page
    assert "Tested on fsaverage and on 4 held-out individual label maps" in page  # a limitation
    assert "inferior lateral ventricle reaches Dice" in page  # the measured one, with its numbers
    assert "synthetic brains only" in page  # the training data summary
    import json

    card = json.loads((Path(__file__).resolve().parents[2] / "resources" / "models" / "volta3d-hippocampus" / "model_card.json").read_text())
    assert f"{card['metrics']['heldout_fsaverage']['clean']['dice_left']:.3f}" in page and "Dice L" in page  # held-out
    assert source.count("<table") >= 5
    assert "/work/" not in page and "/home/" not in page
    assert "{'" not in page and "': " not in page  # not a dict / YAML dump
    # any absolute path in any field is cut short
    card["licence"] = "see /home/alice/secret-project/LICENSE and C:\\Users\\bob\\m.txt"
    card["training_data"]["fine_tuning"]["init"] = "/work/main/runs/build-model/pretrain/bundle"  # as older cards had
    other = tmp_path / "other"
    shutil.copytree(shipped, other, ignore=shutil.ignore_patterns("*.safetensors"))
    (other / "model_card.json").write_text(json.dumps(card))
    second = ModelCardDialog(other)
    qtbot.addWidget(second)
    page = second.browser.toPlainText()
    assert "alice" not in page and "Users" not in page and "…/secret-project/LICENSE" in page
    assert "/work/" not in page and "…/pretrain/bundle" in page


def test_help_menu_has_a_guide_and_the_shortcuts(qtbot, window) -> None:
    from PyQt6.QtWidgets import QTextBrowser

    from app.help_dialogs import GUIDE_DIALOG, SHORTCUTS_DIALOG

    texts = [a.text() for a in window.menu("&Help").actions()]
    assert texts[:2] == ["&Quick guide", "&Keyboard shortcuts"]
    window.help.guide.trigger()
    guide = _boxes(GUIDE_DIALOG)
    assert guide
    page = guide[0].findChild(QTextBrowser).toPlainText()
    assert "Run the model" in page and "Load label map" in page
    guide[0].close()
    window.help.shortcuts.trigger()
    shortcuts = _boxes(SHORTCUTS_DIALOG)
    text = shortcuts[0].findChild(QTextBrowser).toPlainText()
    for keys, action in (("Ctrl+R", "Run model on scan"), ("Ctrl+Z", "Undo mask edit"), ("Ctrl+E", "Edit mask"),
                         ("Ctrl+S", "Save mask..."), ("Ctrl+1", "2 x 2")):
        assert keys in text and action in text, (keys, action)
    assert "Right drag" in text  # the mouse gestures
    shortcuts[0].close()


def test_3d_view_shows_the_hippocampi_after_a_run(qtbot, shipped_window) -> None:
    window = shipped_window
    volume = window.view_grid.volume_view
    run_and_wait(qtbot, window)
    qtbot.waitUntil(lambda: bool(volume.meshes.actors), timeout=5000)
    assert volume.faded and window.fade_action.isChecked()
    shot = volume.screenshot()
    assert orange_pixels(shot) > 200 and cyan_pixels(shot) > 200, (orange_pixels(shot), cyan_pixels(shot))
    window.fade_action.setChecked(False)  # the user can have the opaque head back
    assert not volume.faded
    assert orange_pixels(volume.screenshot()) < orange_pixels(shot) / 2
    window.fade_action.setChecked(True)
    # hiding the scan layer hides its volume rendering too (the surfaces stay)
    window.layers.set_scan_style(visible=False)
    assert not volume.volume.GetVisibility()
    window.layers.set_scan_style(visible=True)
    assert volume.volume.GetVisibility()


def test_long_results_are_shown_whole_when_the_panel_does_not_scroll(qtbot, shipped_window) -> None:
    """The shipped model's long values (the P(male) caveat, a volume with its % of ICV) wrap, and every
    line is on screen: in a form layout, a Results panel tall enough not to scroll cut them off."""
    from PyQt6.QtWidgets import QLabel

    window = shipped_window
    window.resize(1280, 1221)
    run_and_wait(qtbot, window)
    window.results_panel.raise_()
    qtbot.wait(300)
    values = window.results_panel.values
    assert "head size alone" in values["P(male)"].text()

    def lines(label: QLabel, height: int) -> float:
        return height / label.fontMetrics().lineSpacing()

    assert lines(values["P(male)"], values["P(male)"].heightForWidth(values["P(male)"].width())) >= 4  # it wraps
    for key, label in values.items():
        shown = label.visibleRegion().boundingRect().height()
        assert lines(label, shown) >= lines(label, label.heightForWidth(label.width())) - 0.01, key


def test_1280x800_keeps_the_brush_and_scrolls_the_panels(qtbot, window) -> None:
    from PyQt6.QtWidgets import QScrollArea, QToolButton

    window.resize(1280, 800)
    qtbot.wait(200)
    for bar in (window.toolbar("Main"), window.edit_actions.toolbar):
        overflow = [b for b in bar.findChildren(QToolButton) if b.objectName() == "qt_toolbar_ext_button"]
        assert not any(b.isVisible() for b in overflow), bar.objectName()
    assert window.edit_actions.radius.isVisible()
    for dock in (window.info_panel, window.layers_panel):
        assert isinstance(dock.widget(), QScrollArea), dock.objectName()
    results_height = window.results_panel.height()
    window.training.show_panel()
    qtbot.wait(200)
    # the training dock takes its room from the views, not from the results
    assert window.results_panel.height() >= results_height - 5
    assert window.view_grid.height() >= 250
