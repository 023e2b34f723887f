"""Reader errors: a dialog says what to do, the open scan stays open; questions lead to a reload."""

from __future__ import annotations

import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from app_phantom import grid_affine, sample_on_grid
from app_helpers import non_background_fraction, open_and_wait
from PyQt6.QtWidgets import QApplication, QMessageBox

import app.dialogs as dialogs

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # for tests.helpers

pytestmark = pytest.mark.gui


def _error_boxes() -> list[QMessageBox]:
    return [w for w in QApplication.topLevelWidgets()
            if isinstance(w, QMessageBox) and w.objectName() == dialogs.READ_ERROR_BOX and w.isVisible()]


def test_bad_file_shows_the_error_and_keeps_the_open_scan(qtbot, window, head_path, tmp_path) -> None:
    layer = open_and_wait(qtbot, window, head_path)
    bad = tmp_path / "broken.nii.gz"
    bad.write_bytes(b"this is not a scan at all" * 10)
    with qtbot.waitSignal(window.load_failed, timeout=30_000) as blocker:
        window.open_path(bad)
    from volta_core.io import VolumeReadError
    assert isinstance(blocker.args[0], VolumeReadError)
    boxes = _error_boxes()
    assert len(boxes) == 1
    assert boxes[0].text() == blocker.args[0].message
    assert boxes[0].informativeText() == blocker.args[0].hint
    boxes[0].accept()
    # the previous scan is still shown and still usable
    assert window.image.layer is layer
    assert not window.is_loading
    axial = window.view_grid.slice_views["axial"]
    index = axial.slice_index
    axial.step_slice(1)
    assert axial.slice_index == index + 1
    image = axial.screenshot()
    h, w, _ = image.shape
    assert non_background_fraction(image[h // 4: 3 * h // 4, w // 4: 3 * w // 4]) > 0.3
    assert str(bad) not in window.recent.paths


def test_missing_recent_file_shows_the_error_and_leaves_the_list(qtbot, window, tmp_path) -> None:
    missing = tmp_path / "nowhere.nii.gz"
    window.recent.add(missing)
    assert [a.text() for a in window.file.recent_menu.actions()][0] == str(missing)
    with qtbot.waitSignal(window.load_failed, timeout=30_000):
        window.file.recent_menu.actions()[0].trigger()
    assert len(_error_boxes()) == 1
    assert window.image.layer is None
    assert str(missing) not in window.recent.paths


def test_4d_image_asks_for_a_volume(qtbot, window, tmp_path, monkeypatch) -> None:
    affine = grid_affine("RAS", 4.0, (20, 24, 20))
    base = sample_on_grid(affine, (20, 24, 20))
    data = np.stack([base, 2 * base, 3 * base], axis=-1)
    path = tmp_path / "fmri.nii.gz"
    nib.save(nib.Nifti1Image(data, affine), str(path))
    asked: list[int] = []
    monkeypatch.setattr(dialogs, "choose_volume_index", lambda parent, n, name: asked.append(n) or 2)
    layer = open_and_wait(qtbot, window, path)
    assert asked == [3]
    np.testing.assert_allclose(layer.volume.data, 3 * base, rtol=1e-5)


def test_4d_image_cancelled_leaves_nothing_open(qtbot, window, tmp_path, monkeypatch) -> None:
    affine = grid_affine("RAS", 4.0, (10, 12, 10))
    data = np.zeros((10, 12, 10, 2), dtype=np.float32)
    path = tmp_path / "two.nii.gz"
    nib.save(nib.Nifti1Image(data, affine), str(path))
    monkeypatch.setattr(dialogs, "choose_volume_index", lambda parent, n, name: None)
    with qtbot.waitSignal(window.load_failed, timeout=30_000):
        window.open_path(path)
    assert window.image.layer is None and not _error_boxes()


def test_nan_voxels_can_be_replaced_with_zero(qtbot, window, tmp_path, monkeypatch) -> None:
    affine = grid_affine("RAS", 4.0, (20, 24, 20))
    data = sample_on_grid(affine, (20, 24, 20))
    data[3, 4, 5] = np.nan
    data[6, 7, 8] = np.inf
    path = tmp_path / "nan.nii.gz"
    nib.save(nib.Nifti1Image(data, affine), str(path))
    monkeypatch.setattr(dialogs, "confirm_replace_nonfinite", lambda parent, error: error.n_nonfinite == 2)
    layer = open_and_wait(qtbot, window, path)
    assert layer.volume.data[3, 4, 5] == 0 and layer.volume.data[6, 7, 8] == 0
    assert np.isfinite(layer.display.data).all()


def test_dicom_folder_with_two_series_asks_which(qtbot, window, tmp_path, monkeypatch) -> None:
    from tests.helpers.dicom_series import write_dicom_series
    from volta_core.io import Volume

    affine = grid_affine("LPS", 4.0, (16, 18, 12))
    data = sample_on_grid(affine, (16, 18, 12)).astype(np.int16)
    folder = tmp_path / "dicom"
    write_dicom_series(Volume(data, affine), folder, series_uid="1.2.3.1", description="T1 first", prefix="a")
    write_dicom_series(Volume(data * 2, affine), folder, series_uid="1.2.3.2", description="T1 second",
                       prefix="b")
    offered: list[list[str]] = []

    def choose(parent, series):
        offered.append([info.label() for info in series])
        return next(info.uid for info in series if info.description == "T1 second")

    monkeypatch.setattr(dialogs, "choose_series", choose)
    layer = open_and_wait(qtbot, window, folder)
    assert len(offered) == 1 and len(offered[0]) == 2
    assert int(layer.volume.data.max()) == 2 * int(data.max())


def test_series_dialog_returns_the_selected_uid(qtbot) -> None:
    from volta_core.io import SeriesInfo

    series = [SeriesInfo("1.1", "T1", 100, (256, 256)), SeriesInfo("1.2", "FLAIR", 40, (512, 512))]
    dialog = dialogs.SeriesDialog(series)
    qtbot.addWidget(dialog)
    assert dialog.list.count() == 2 and "FLAIR" in dialog.list.item(1).text()
    dialog.list.setCurrentRow(1)
    assert dialog.selected_uid() == "1.2"
