"""Each feature built alone on a bare shell window from one scene: menus in their fixed places, actions
following the scene, and features that reach each other only through the scene's requests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PyQt6.QtGui import QAction

from app.settings import open_settings
from app.shell_window import ShellWindow
from app.state import ImageLayer, ImageStats
from app.state.scene import Scene
from app.state.segmentation import LEFT, Segmentation
from volta_core.io import Volume, canonical_ras

pytestmark = pytest.mark.gui


@pytest.fixture
def shell(qtbot) -> ShellWindow:
    window = ShellWindow(open_settings())
    qtbot.addWidget(window)
    return window


def _texts(menu) -> list[str]:
    return [a.text() or "---" for a in menu.actions()]


def _scan_with_segmentation(scene: Scene) -> Segmentation:
    data = np.zeros((8, 8, 8), np.float32)
    volume = Volume(data, np.diag([2.0, 2.0, 2.0, 1.0]))
    layer = ImageLayer(volume, canonical_ras(volume), ImageStats.from_array(data), "scan")
    scene.image.set_layer(layer)
    labels = np.zeros(volume.shape, np.uint8)
    labels[2:4, 2:4, 2:4] = LEFT
    return Segmentation("model", labels, volume.affine, layer.display_mapping)


def test_menu_sections_keep_their_order_whichever_feature_fills_them_first(shell) -> None:
    late, early = QAction("late", shell), QAction("early", shell)
    shell.add_to_menu("&Model", "navigate", [late])
    shell.add_to_menu("&Model", "run", [early])
    assert [a.text() for a in shell.menuBar().actions()] == ["&File", "&Edit", "&View", "&Model", "&Training",
                                                            "&Help"]
    texts = _texts(shell.menu("&Model"))
    assert texts.index("early") < texts.index("late")
    with pytest.raises(ValueError, match="unknown menu"):
        shell.menu("&Tools")


def test_edit_feature_follows_the_scenes_current_segmentation(shell) -> None:
    from app.features.edit import EditActions

    scene = Scene()
    edit = EditActions(scene, shell)
    assert _texts(shell.menu("&Edit"))[:3] == ["&Undo mask edit", "&Redo mask edit", "---"]
    assert not edit.edit_mode.isEnabled() and not edit.radius.isEnabled()
    seg = _scan_with_segmentation(scene)
    scene.set_current(seg)
    assert edit.edit_mode.isEnabled() and edit.radius.isEnabled()
    edit.edit_mode.trigger()
    assert scene.editor.active
    scene.image.set_layer(None)  # the scan goes: nothing left to edit
    assert not edit.edit_mode.isEnabled() and not edit.edit_mode.isChecked()


def _bundle(folder: Path, name: str) -> Path:
    folder.mkdir(parents=True)
    (folder / "model_card.json").write_text(json.dumps({"name": name, "heads": {"segmentation": {"trained": True}}}))
    (folder / "model.safetensors").write_bytes(b"weights")
    return folder


def test_using_a_registry_model_asks_about_unsaved_corrections_first(shell, tmp_path, monkeypatch,
                                                                    no_bundled_models) -> None:
    from app.features.inference import InferenceController
    from app.features.training import TrainingFeatures

    models = tmp_path / "models"
    first, second = _bundle(models / "a-model", "a model"), _bundle(models / "b-model", "b model")
    monkeypatch.setenv("VOLTA_MODELS_DIR", str(models))
    scene = Scene()
    inference = InferenceController(scene, shell)
    training = TrainingFeatures(scene, shell)
    assert inference.selected_bundle() == first
    asked: list[str] = []
    answer = {"go on": False}
    scene.confirm_discard.handle(lambda action: asked.append(action) or answer["go on"])
    registry = training.show_registry()
    registry.use_requested.emit(second)  # Cancel in the Save / Discard / Cancel prompt
    assert asked == ["switch the model"] and inference.selected_bundle() == first
    answer["go on"] = True
    registry.use_requested.emit(second)
    assert inference.selected_bundle() == second and inference.run_action.isEnabled() is False  # no scan
    assert "b model" in shell.load_label.text()
    registry.use_requested.emit(second)  # already in use: nothing to ask
    assert asked == ["switch the model"] * 2
    registry.close()
