"""The training form starts from the bundled model with no configuration: its card's encoder and input
appear in the form and every task runs from it with the panel's defaults (real engine processes);
the form is safe to scroll over and refuses a learning rate of 0."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PyQt6.QtCore import QPoint, QPointF, Qt
from PyQt6.QtGui import QWheelEvent
from PyQt6.QtWidgets import QApplication
from training_helpers import STEP_TIMEOUT_MS, launch

from volta_core.data.synthetic import write_synthetic_bids

pytestmark = pytest.mark.gui

ROOT = Path(__file__).resolve().parents[2]
BUNDLED = ROOT / "resources" / "models" / "volta3d-hippocampus"


@pytest.fixture(scope="module")
def lab_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six synthetic subjects with masks, sexes and diagnoses (enough for the default 20 % split)."""
    return write_synthetic_bids(tmp_path_factory.mktemp("lab") / "bids", 6, shape=40, spacing=2.5)


@pytest.fixture
def panel(qtbot, training_dirs):
    from app.main_window import MainWindow
    from app.settings import open_settings

    win = MainWindow(open_settings())
    qtbot.addWidget(win)
    win.resize(1280, 800)
    win.show()
    qtbot.waitExposed(win)
    yield win.training.show_panel()
    win.close()  # close (and stop its timers and VTK views) before the next test builds a window
    qtbot.wait(50)


# seg and pretrain in the default run; the two classification tasks take the same path (~30 s each)
@pytest.mark.parametrize("task", ["seg", pytest.param("sex", marks=pytest.mark.slow),
                                  pytest.param("ad", marks=pytest.mark.slow), "pretrain"])
def test_the_form_shows_the_bundled_models_settings(panel, task: str) -> None:
    form = panel.form
    form.set_task(task)
    assert form.init.currentData() == str(BUNDLED) and form.init.isEnabled()
    text = form.model_input.text()
    assert "vit3d_small encoder, 64x48x48 voxels at 1.5 mm, template space, hippocampus ROI" in text
    assert "volta3d-hippocampus's card" in text
    form.init.setCurrentIndex(0)  # random initialisation: the shipped config's settings come back
    assert form.model_input.text().startswith("vit3d_tiny encoder, 96x96x96 voxels")


# seg and pretrain in the default run; the two classification tasks take the same path (~30 s each)
@pytest.mark.parametrize("task", ["seg", pytest.param("sex", marks=pytest.mark.slow),
                                  pytest.param("ad", marks=pytest.mark.slow), "pretrain"])
def test_every_task_runs_from_the_bundled_model_with_the_panels_defaults(qtbot, panel, lab_dataset, task) -> None:
    """Nothing but the task, the dataset and a 2-step budget: a real engine process fine-tunes (or
    continues pretraining) the bundled vit3d_small and writes a bundle with the card's input."""
    form = panel.form
    form.set_task(task)
    if task != "pretrain":
        form.set_dataset(lab_dataset)
        qtbot.waitUntil(lambda: "ready to train" in form.report.toPlainText(), timeout=60_000)
    if task == "seg":  # hippocampus-only masks for the bundled 7-class model: the form says what happens
        report = form.report.toPlainText()
        assert "Masks label: hippocampus (left and right)" in report
        assert ("also segments the amygdala and the inferior lateral ventricle, which these masks do not label: "
                "the fine-tune keeps them") in report
    form.device.setCurrentIndex(form.device.findData("cpu"))
    form.threads.setValue(1)
    form.overrides.setText("steps=2" + (" synthetic_subjects=2" if task == "pretrain" else ""))
    job = launch(qtbot, panel)
    qtbot.waitUntil(lambda: job.status in ("finished", "failed"), timeout=STEP_TIMEOUT_MS)
    assert job.status == "finished", job.error
    started = job.progress.started
    assert started["config"]["model"]["encoder"] == "vit3d_small"
    assert started["config"]["data"]["size"] == [64, 48, 48]
    card = json.loads((job.bundle / "model_card.json").read_text())
    assert card["input"]["size"] == [64, 48, 48] and card["input"]["roi"] == "hippocampus"
    if task == "seg":  # ...and does it: the 7 classes stay, the card says what the masks labelled
        assert len(card["heads"]["segmentation"]["labels"]) == 7
        assert card["training_data"]["masks_annotate"] == ["hippocampus"]
    assert card["input"]["space"] == "template" and card["architecture"]["overrides"]["depth"] == 12


def test_a_model_that_does_not_fit_is_refused_before_launch(qtbot, panel, training_dirs, lab_dataset) -> None:
    runs, _ = training_dirs
    form = panel.form
    form.set_dataset(lab_dataset)
    form.overrides.setText("model.overrides.depth=6")
    with qtbot.waitSignal(panel.refused, timeout=60_000) as blocker:
        form.launch_button.click()
    assert "does not fit" in blocker.args[0] and "depth=12" in blocker.args[0]
    assert not list(runs.glob("*/job.json"))


@pytest.mark.parametrize("value,override", [(0.0, ""), (5e-4, "optim.lr=-1"), (5e-4, "optim.lr=.nan")])
def test_an_invalid_learning_rate_is_refused_with_a_message(qtbot, panel, training_dirs, lab_dataset,
                                                            value: float, override: str) -> None:
    runs, _ = training_dirs
    form = panel.form
    form.set_dataset(lab_dataset)
    form.lr.setValue(value)
    assert form.lr.value() == value and form.lr.text() == ("0" if value == 0 else "5.00e-04")
    form.overrides.setText(override)
    with qtbot.waitSignal(panel.refused, timeout=60_000) as blocker:
        form.launch_button.click()
    assert "optim.lr must be a number above 0 (e.g. 5e-4)" in blocker.args[0]
    assert not list(runs.glob("*/job.json"))


def test_the_learning_rate_keeps_small_values() -> None:
    from app.training.setup_form import LearningRateBox

    box = LearningRateBox()
    box.setValue(1e-7)
    assert box.value() == pytest.approx(1e-7) and box.text() == "1.00e-07"
    box.lineEdit().setText("3e-5")
    box.interpretText()
    assert box.value() == pytest.approx(3e-5)
    box.stepBy(1)
    assert box.value() == pytest.approx(6e-5)
    box.deleteLater()


def _wheel(widget, up: bool = False) -> None:
    pos = QPointF(widget.rect().center())
    event = QWheelEvent(pos, QPointF(widget.mapToGlobal(pos.toPoint())), QPoint(0, 0),
                        QPoint(0, 120 if up else -120), Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier,
                        Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(widget, event)


def test_the_wheel_changes_nothing_unless_the_field_has_focus(qtbot, panel) -> None:
    form = panel.form
    values = lambda: (form.lr.value(), form.epochs.value(), form.batch_size.value(),  # noqa: E731
                      form.task.currentIndex(), form.init.currentIndex(), form.val_fraction.value())
    before = values()
    form.launch_button.setFocus()
    for widget in (form.lr, form.epochs, form.batch_size, form.task, form.init, form.val_fraction):
        for _ in range(5):
            _wheel(widget)
    assert values() == before
    form.window().activateWindow()
    qtbot.waitActive(form.window())
    form.epochs.setFocus()
    qtbot.waitUntil(form.epochs.hasFocus, timeout=2000)
    _wheel(form.epochs, up=True)
    assert form.epochs.value() == before[1] + 1  # a focused field still takes the wheel
