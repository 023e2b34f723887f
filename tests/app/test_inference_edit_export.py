"""Correcting the predicted mask (paint, erase, undo, redo) and exporting mask, CSV and PDF report."""

from __future__ import annotations

import csv
import re

import numpy as np
import pytest
from inference_helpers import cyan_pixels, orange_pixels, pdf_text, run_and_wait
from PyQt6.QtCore import QPoint, Qt

pytestmark = pytest.mark.gui

# a 2 mm brush on the 1 mm sample grid covers the voxels with di^2 + dj^2 <= 4: 1 + 4 + 4 + 4
BRUSH_2MM_VOXELS = 13


def _paint_click(qtbot, view, world) -> None:
    x, y = view.world_to_pixel(world)
    point = QPoint(int(round(x)), int(round(y)))
    qtbot.mousePress(view.plotter, Qt.MouseButton.LeftButton, pos=point)
    qtbot.mouseRelease(view.plotter, Qt.MouseButton.LeftButton, pos=point)


def test_paint_undo_redo_change_the_volume_exactly(qtbot, sample_window) -> None:
    window = sample_window
    seg = run_and_wait(qtbot, window)
    layer = window.image.layer
    voxel_ml = abs(float(np.linalg.det(layer.volume.affine[:3, :3]))) / 1000.0
    assert voxel_ml == pytest.approx(0.001)
    left0 = int((seg.labels == 1).sum())
    view = window.view_grid.slice_views["axial"]
    # a point in the air in front of the face, on the shown axial slice: all background
    k = view.slice_index
    world = layer.display_origin + layer.display_spacing * np.array([40, 20, k])
    assert layer.display.data[40, 20, k] < 20

    window.edit_actions.edit_mode.trigger()
    assert window.editor.active
    window.edit_actions.radius.setValue(2.0)
    window.edit_actions.labels[1].trigger()
    _paint_click(qtbot, view, world)
    assert int((seg.labels == 1).sum()) == left0 + BRUSH_2MM_VOXELS
    assert seg.display[40, 20, k] == 1  # the painted voxel shows where it was painted
    assert window.cursor.position[0] != world[0]  # painting does not move the cursor
    qtbot.wait(200)  # the results panel refreshes at most every 100 ms
    expected = seg.prediction.volumes_ml["left"] + BRUSH_2MM_VOXELS * voxel_ml
    assert window.results_panel.values["Left hippocampus (corrected)"].text().startswith(f"{expected:.3f} mL")

    # erase a 1 mm disc (5 voxels) in the middle of the painted disc
    window.edit_actions.labels[0].trigger()
    window.edit_actions.radius.setValue(1.0)
    _paint_click(qtbot, view, world)
    assert int((seg.labels == 1).sum()) == left0 + BRUSH_2MM_VOXELS - 5

    assert window.edit_actions.undo.shortcut().toString() == "Ctrl+Z"
    assert window.edit_actions.redo.shortcut().toString() == "Ctrl+Shift+Z"
    window.edit_actions.undo.trigger()
    assert int((seg.labels == 1).sum()) == left0 + BRUSH_2MM_VOXELS
    window.edit_actions.undo.trigger()
    assert int((seg.labels == 1).sum()) == left0
    assert np.array_equal(seg.labels, seg.original) and not seg.edited
    assert not window.edit_actions.undo.isEnabled()
    window.edit_actions.redo.trigger()
    assert int((seg.labels == 1).sum()) == left0 + BRUSH_2MM_VOXELS
    assert seg.display[40, 20, k] == 1
    # a drag paints a stroke (one undo step) and the brush circle follows the mouse
    window.edit_actions.labels[2].trigger()
    window.edit_actions.radius.setValue(3.0)
    start = view.world_to_pixel(world + np.array([0.0, 30.0, 0.0]))
    qtbot.mousePress(view.plotter, Qt.MouseButton.LeftButton, pos=QPoint(int(start[0]), int(start[1])))
    for step in range(1, 11):
        qtbot.mouseMove(view.plotter, QPoint(int(start[0]) + 4 * step, int(start[1])))
    qtbot.mouseRelease(view.plotter, Qt.MouseButton.LeftButton, pos=QPoint(int(start[0]) + 40, int(start[1])))
    right_after_stroke = int((seg.labels == 2).sum())
    assert right_after_stroke > int((seg.original == 2).sum()) + 29  # at least one 3 mm disc
    assert view.brush.actor.GetVisibility()
    from app_helpers import ARTIFACTS
    import imageio.v3 as iio

    ARTIFACTS.mkdir(exist_ok=True)
    iio.imwrite(ARTIFACTS / "inference_paint.png", view.screenshot())
    window.edit_actions.undo.trigger()
    assert int((seg.labels == 2).sum()) == int((seg.original == 2).sum())
    window.edit_actions.edit_mode.trigger()
    assert not window.editor.active


def test_exports_read_back(qtbot, sample_window, tmp_path) -> None:
    from volta_core.io import load_volume

    window = sample_window
    seg = run_and_wait(qtbot, window)
    scan = window.image.layer.volume
    scan.metadata["patient"] = {"name": "Doe^Jane", "id": "P-0042"}
    flat = np.flatnonzero(seg.labels == 0)[:7]
    window.editor.set_target(seg)
    seg.set_values(flat, 2)  # a correction: 7 more right-hippocampus voxels
    exports = window.export_actions

    def export(kind: str, name: str, include: bool = False):
        with qtbot.waitSignal(exports.exported, timeout=60_000) as blocker:
            exports.export(kind, tmp_path / name, include_patient=include)
        return blocker.args[1]

    mask_path = export("mask", "scan_mask.nii.gz")
    mask = load_volume(mask_path)
    assert mask.shape == scan.shape and np.allclose(mask.affine, scan.affine)
    assert np.array_equal(mask.data.astype(np.uint8), seg.labels)
    assert "patient" not in mask.metadata

    rows = list(csv.DictReader(export("csv", "row.csv").open()))
    assert len(rows) == 1
    assert rows[0]["hippocampus_right_ml"] == f"{seg.volumes_ml()['right']:.4f}"
    assert rows[0]["p_ad"] == "not trained" and rows[0]["status"] == "ok"
    assert "Doe" not in (tmp_path / "row.csv").read_text()
    with_patient = list(csv.DictReader(export("csv", "row_patient.csv", include=True).open()))
    assert with_patient[0]["patient_name"] == "Doe^Jane"

    pdf = export("pdf", "report.pdf").read_bytes()
    assert pdf.startswith(b"%PDF")
    n_pages = len(re.findall(rb"/Type\s*/Page(?!s)", pdf))
    assert n_pages >= 1
    from PyQt6.QtPdf import QPdfDocument

    document = QPdfDocument(None)
    document.load(str(tmp_path / "report.pdf"))
    assert document.pageCount() == n_pages
    from app_helpers import ARTIFACTS
    from PyQt6.QtCore import QSize

    ARTIFACTS.mkdir(exist_ok=True)
    document.render(0, QSize(893, 1263)).save(str(ARTIFACTS / "inference_report_page1.png"))
    document.close()
    text = pdf_text(pdf)
    assert "For research use only. Not for diagnosis." in text
    assert seg.prediction.model.name in text and f"{seg.volumes_ml()['right']:.3f} mL" in text
    assert "not trained: fine-tune on your data" in text
    assert "Doe" not in text and "P-0042" not in text
    assert len(re.findall(rb"/Subtype\s*/Image", pdf)) == 4  # axial, coronal, sagittal, 3D
    with_ids = pdf_text(export("pdf", "report_patient.pdf", include=True).read_bytes())
    assert "Doe^Jane" in with_ids and "P-0042" in with_ids
    content = exports._report_content(seg, {})
    assert set(content.images) == {"axial", "coronal", "sagittal", "3d"}
    assert all(p.stat().st_size > 1000 for p in content.images.values())
    # the views are centred on the hippocampus: both hippocampi show in the axial and coronal shots
    import imageio.v3 as iio

    for name in ("axial", "coronal"):
        shot = iio.imread(content.images[name])
        assert orange_pixels(shot) > 300 and cyan_pixels(shot) > 300, name
    assert content.patient == {} and content.edited


def test_model_errors_show_a_dialog_and_keep_everything(qtbot, sample_window, tiny_bundle, tmp_path) -> None:
    import shutil

    from PyQt6.QtWidgets import QApplication, QMessageBox

    window = sample_window
    first = run_and_wait(qtbot, window)
    broken = tmp_path / "broken-model"
    shutil.copytree(tiny_bundle, broken)
    (broken / "model.safetensors").write_bytes(b"not weights")
    assert window.inference.add_bundle(broken)
    with qtbot.waitSignal(window.inference.run_failed, timeout=60_000) as blocker:
        window.inference.run()
    boxes = [w for w in QApplication.topLevelWidgets()
             if isinstance(w, QMessageBox) and w.objectName() == "model_error_box" and w.isVisible()]
    assert boxes and boxes[0].windowTitle() == "Could not load the model"
    assert "stay open" in boxes[0].informativeText()
    boxes[0].close()
    assert type(blocker.args[0]).__name__ == "BundleError"
    assert window.image.layer is not None and window.inference.current is first
    assert window.layers.segmentations() == [first]
    assert window.inference.run_action.isEnabled()

    # a missing device is a clear dialog too
    window.inference.selector.setCurrentIndex(0)
    if not window.inference.device_actions["cuda"].isEnabled():
        window.inference.set_device("cuda")
        with qtbot.waitSignal(window.inference.run_failed, timeout=60_000):
            window.inference.run()
        boxes = [w for w in QApplication.topLevelWidgets()
                 if isinstance(w, QMessageBox) and w.objectName() == "model_error_box" and w.isVisible()]
        assert boxes and boxes[-1].windowTitle() == "Device not available"
        boxes[-1].close()
        assert window.inference.current is first


def test_without_a_model_the_app_says_what_to_do(qtbot, window, head_path, tmp_path, monkeypatch,
                                                 no_bundled_models) -> None:
    from app_helpers import open_and_wait
    from PyQt6.QtWidgets import QApplication, QMessageBox

    monkeypatch.setenv("VOLTA_MODELS_DIR", str(tmp_path / "no-models"))
    window.inference.refresh_models()
    open_and_wait(qtbot, window, head_path)
    assert window.inference.selected_bundle() is None
    assert not window.inference.run_action.isEnabled()
    window.inference.run()
    boxes = [w for w in QApplication.topLevelWidgets()
             if isinstance(w, QMessageBox) and w.objectName() == "model_error_box" and w.isVisible()]
    assert boxes and "choose a model bundle" in boxes[0].text().lower()
    boxes[0].close()
