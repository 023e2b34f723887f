"""File > Reopen on a 1 mm grid: a thick-slice scan opened again with its voxels cut to 1 mm, and a
model run on it gives its mask on that grid, still warned about the acquired slice thickness."""

from __future__ import annotations

import numpy as np
import pytest
from app_helpers import open_and_wait
from inference_helpers import run_and_wait
from PyQt6.QtWidgets import QApplication, QMessageBox

pytestmark = pytest.mark.gui


def test_reopen_thick_scan_on_a_fine_grid_and_run(qtbot, models_dir, window, head_path) -> None:
    from volta_core.preprocess.resample import ACQUIRED_SPACING

    coarse = open_and_wait(qtbot, window, head_path)  # 4 mm voxels
    action = window.file.fine_grid_action
    assert action.isEnabled()
    with qtbot.waitSignal(window.scan_loaded, timeout=60_000) as blocker:
        action.trigger()
    fine = blocker.args[0]
    assert fine.name == "head.mgz (1 mm grid)"
    assert fine.volume.shape == tuple(4 * s for s in coarse.volume.shape)
    assert np.allclose(fine.volume.spacing, 1.0)
    assert fine.volume.metadata[ACQUIRED_SPACING] == pytest.approx((4.0, 4.0, 4.0))
    # the same world: the centre of the first coarse voxel is the mean of its 64 fine ones
    first = fine.volume.voxel_to_world(np.indices((4, 4, 4)).reshape(3, -1).T).mean(axis=0)
    assert np.allclose(first, coarse.volume.voxel_to_world(np.zeros((1, 3)))[0], atol=1e-4)
    assert not action.isEnabled()  # already fine
    assert "head.mgz (1 mm grid)" in window.windowTitle()

    seg = run_and_wait(qtbot, window)
    assert seg.labels.shape == fine.volume.shape
    assert any("4.0 mm slices" in w and "finer grid" in w for w in seg.prediction.quality.warnings)


def test_a_1mm_scan_cannot_be_reopened_finer(qtbot, sample_window) -> None:
    assert not sample_window.file.fine_grid_action.isEnabled()


def test_a_grid_too_large_is_a_clear_message_and_the_scan_stays(qtbot, window, head_path, monkeypatch) -> None:
    import app.dialogs as dialogs
    from volta_core.io import VolumeReadError
    from volta_core.preprocess import resample

    coarse = open_and_wait(qtbot, window, head_path)
    monkeypatch.setattr(resample, "MAX_SUBDIVIDED_VOXELS", 1_000_000)  # the 48 x 56 x 48 head cut to 1 mm: 8 M
    with qtbot.waitSignal(window.load_failed, timeout=30_000) as blocker:
        window.file.fine_grid_action.trigger()
    assert isinstance(blocker.args[0], VolumeReadError)
    [box] = [w for w in QApplication.topLevelWidgets()
             if isinstance(w, QMessageBox) and w.objectName() == dialogs.READ_ERROR_BOX and w.isVisible()]
    assert "cannot be reopened on a 1 mm grid" in box.text() and "192 x 224 x 192" in box.text()
    assert "stays open" in box.informativeText()
    box.accept()
    assert window.image.layer is coarse and not window.is_loading
    assert window.file.fine_grid_action.isEnabled()  # can be tried again


def test_corrections_on_the_fine_grid_survive_a_crash(qtbot, models_dir, window, head_path, isolated_autosave,
                                                      monkeypatch) -> None:
    """An autosave made on the 1 mm grid is kept apart from the file's own grid: opening the scan
    as it is says where the corrections are, and reopening it on the 1 mm grid restores them."""
    from app import dialogs
    from app.main_window import MainWindow
    from app.settings import open_settings
    from app.state.autosave import FINE_GRID_KEY_SUFFIX

    open_and_wait(qtbot, window, head_path)
    with qtbot.waitSignal(window.scan_loaded, timeout=60_000):
        window.file.fine_grid_action.trigger()
    seg = run_and_wait(qtbot, window)
    layer = window.image.layer
    window.editor.set_target(seg)
    window.editor.set_label(2)
    window.editor.set_radius(3.0)
    window.editor.begin_stroke()
    world = layer.display_origin + layer.display_spacing * np.array([60, 60, layer.display.shape[2] // 2])
    assert window.editor.dab(world, 2, layer.display.affine) > 0
    window.editor.end_stroke()
    edited = seg.labels.copy()
    with qtbot.waitSignal(window.unsaved_edits.autosaved, timeout=20_000) as blocker:
        pass
    path = blocker.args[0]
    assert path.name.split(".")[0].endswith(FINE_GRID_KEY_SUFFIX)

    # "crash": a new window opens the file as it is; the corrections are not offered on the wrong grid
    monkeypatch.setattr(dialogs, "ask_restore_autosave", lambda *_a: dialogs.RESTORE)
    second = MainWindow(open_settings())
    qtbot.addWidget(second)
    open_and_wait(qtbot, second, head_path)
    qtbot.wait(100)
    assert "made on a 1 mm grid" in second.load_label.text()
    assert path.exists()
    with qtbot.waitSignal(second.unsaved_edits.restored, timeout=180_000) as restored:
        second.file.fine_grid_action.trigger()
    assert np.array_equal(restored.args[0].labels, edited)
