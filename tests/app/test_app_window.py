"""The main window with real views: open a scan, move the cursor, scroll, zoom, window/level, layouts."""

from __future__ import annotations

import numpy as np
import pytest
from app_helpers import ARTIFACTS, non_background_fraction, open_and_wait
from PyQt6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PyQt6.QtGui import QDropEvent, QWheelEvent
from PyQt6.QtWidgets import QApplication

pytestmark = pytest.mark.gui


def _wheel(widget, steps: int, modifiers=Qt.KeyboardModifier.NoModifier) -> None:
    center = QPointF(widget.width() / 2, widget.height() / 2)
    event = QWheelEvent(center, widget.mapToGlobal(center), QPoint(0, 0), QPoint(0, 120 * steps),
                        Qt.MouseButton.NoButton, modifiers, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(widget, event)


def test_open_scan_renders_every_view_and_saves_a_screenshot(qtbot, window, head_path) -> None:
    layer = open_and_wait(qtbot, window, head_path)
    assert window.image.layer is layer
    assert window.windowTitle().startswith("head.mgz - 48x56x48")
    assert window.info_panel.values["Orientation"].text() == "LIA"
    np.testing.assert_allclose(window.cursor.position, layer.center_voxel_world)
    for name, view in window.view_grid.views.items():
        image = view.screenshot()
        h, w, _ = image.shape
        center = image[h // 4: 3 * h // 4, w // 4: 3 * w // 4]
        assert non_background_fraction(center) > 0.3, f"{name} view shows no image"
    ARTIFACTS.mkdir(exist_ok=True)
    from app.startup import grab_window
    assert grab_window(window).save(str(ARTIFACTS / "main_window.png"))


def test_click_moves_the_cursor_shared_by_all_views(qtbot, window, head_path) -> None:
    layer = open_and_wait(qtbot, window, head_path)
    axial = window.view_grid.slice_views["axial"]
    before = {name: view.slice_index for name, view in window.view_grid.slice_views.items()}
    target = layer.world_center + np.array([30.0, -25.0, 0.0])  # 30 mm right, 25 mm posterior
    col, row = axial.world_to_pixel(target)
    qtbot.mouseClick(axial.plotter, Qt.MouseButton.LeftButton, pos=QPoint(round(col), round(row)))
    position = window.cursor.position
    np.testing.assert_allclose(position[:2], target[:2], atol=2.0)  # within a pixel (~1.3 mm)
    assert position[2] == pytest.approx(layer.center_voxel_world[2])  # the axial slice did not move
    views = window.view_grid.slice_views
    assert views["axial"].slice_index == before["axial"]
    assert views["sagittal"].slice_index != before["sagittal"]  # x moved
    assert views["coronal"].slice_index != before["coronal"]  # y moved
    for view in views.values():  # every view slices through the same cursor
        normal = view.geometry.normal
        assert view.slice_index == round(layer.display_index(position)[normal])
    planes = window.view_grid.volume_view.mapper.GetCroppingRegionPlanes()  # 3D cutaway follows
    assert (planes[0], planes[3], planes[5]) == pytest.approx(tuple(position))
    sample = layer.sample(position)
    assert f"voxel ({sample.index[0]}, {sample.index[1]}, {sample.index[2]})" in window.cursor_status.text()
    # the radiological axial view puts the patient's right (x > 0) on the screen's left
    assert col < axial.plotter.width() / 2


def test_wheel_steps_one_slice_and_ctrl_wheel_zooms(qtbot, window, head_path) -> None:
    layer = open_and_wait(qtbot, window, head_path)
    axial = window.view_grid.slice_views["axial"]
    start_index, start_z = axial.slice_index, window.cursor.position[2]
    _wheel(axial.plotter, 1)
    assert axial.slice_index == start_index + 1
    assert window.cursor.position[2] == pytest.approx(start_z + layer.display_spacing[2], abs=1e-6)
    _wheel(axial.plotter, -1)
    _wheel(axial.plotter, -1)
    assert axial.slice_index == start_index - 1
    camera = axial.renderer.GetActiveCamera()
    scale = camera.GetParallelScale()
    _wheel(axial.plotter, 2, Qt.KeyboardModifier.ControlModifier)
    assert camera.GetParallelScale() < scale * 0.8
    assert axial.slice_index == start_index - 1  # zooming does not scroll


def test_right_drag_changes_window_level_and_presets_restore_it(qtbot, window, head_path) -> None:
    layer = open_and_wait(qtbot, window, head_path)
    view = window.view_grid.slice_views["coronal"].plotter
    window_before, level_before = window.display.window, window.display.level
    qtbot.mousePress(view, Qt.MouseButton.RightButton, pos=QPoint(100, 100))
    qtbot.mouseMove(view, QPoint(160, 130))
    qtbot.mouseRelease(view, Qt.MouseButton.RightButton, pos=QPoint(160, 130))
    assert window.display.window > window_before
    assert window.display.level > level_before
    window.apply_preset("Full range")
    assert window.display.display_range == pytest.approx((layer.stats.minimum, layer.stats.maximum))
    axial = window.view_grid.slice_views["axial"].slice_image
    full_range_rgb = axial.rgb.copy()
    expected = np.clip((axial.values - layer.stats.minimum) / (layer.stats.maximum - layer.stats.minimum) * 255, 0, 255)
    assert np.abs(full_range_rgb[..., 0].astype(int) - expected.astype(int)).max() <= 1
    window.apply_preset("T1 brain")
    from app.state import preset_range
    assert window.display.display_range == pytest.approx(preset_range(layer.stats, "T1 brain"))
    assert layer.stats.foreground_low > layer.stats.minimum  # so the colours must change
    assert not np.array_equal(axial.rgb, full_range_rgb)


def test_radiological_toggle_flips_the_letters_and_the_image(qtbot, window, head_path) -> None:
    open_and_wait(qtbot, window, head_path)
    axial = window.view_grid.slice_views["axial"]
    assert axial.annotations.text("left") == "R"
    target = window.cursor.position + np.array([30.0, 0.0, 0.0])
    col_radiological, _ = axial.world_to_pixel(target)
    window.view_actions.radiological.trigger()
    assert not window.display.radiological
    assert axial.annotations.text("left") == "L" and axial.annotations.text("right") == "R"
    assert window.view_grid.slice_views["coronal"].annotations.text("left") == "L"
    assert window.view_grid.slice_views["sagittal"].annotations.text("left") == "A"
    col_neurological, _ = axial.world_to_pixel(target)
    center = axial.plotter.width() / 2
    assert col_radiological < center < col_neurological


def test_layouts_arrange_views(qtbot, window, head_path) -> None:
    open_and_wait(qtbot, window, head_path)
    views = window.view_grid.views
    window.view_actions.layouts[window.display.layout.SINGLE].trigger()
    qtbot.wait(20)
    assert [n for n, v in views.items() if v.isVisible()] == ["axial"]
    window.display.set_main_view("coronal")
    window.view_actions.layouts[window.display.layout.ONE_PLUS_THREE].trigger()
    qtbot.wait(20)
    assert all(v.isVisible() for v in views.values())
    assert views["coronal"].width() > 2 * views["axial"].width()
    qtbot.mouseDClick(window.view_grid.slice_views["sagittal"].plotter, Qt.MouseButton.LeftButton,
                      pos=QPoint(20, 20))
    assert window.display.layout.value == "single" and window.display.main_view == "sagittal"
    assert views["sagittal"].isVisible() and not views["coronal"].isVisible()


def test_settings_and_recent_files_persist(qtbot, window, head_path) -> None:
    from app.main_window import MainWindow
    from app.settings import open_settings

    open_and_wait(qtbot, window, head_path)
    window.display.set_layout("1+3")
    window.display.set_radiological(False)
    window.close()
    again = MainWindow(open_settings())
    qtbot.addWidget(again)
    assert again.display.layout.value == "1+3"
    assert not again.display.radiological
    assert again.recent.paths[0] == str(head_path)
    assert [a.text() for a in again.file.recent_menu.actions()][0] == str(head_path)


def test_dropping_a_file_opens_it(qtbot, window, head_path) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(head_path))])
    event = QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(window.scan_loaded, timeout=30_000):
        window.dropEvent(event)
    assert window.image.layer.name == "head.mgz"


def test_close_scan_clears_the_views(qtbot, window, head_path) -> None:
    open_and_wait(qtbot, window, head_path)
    window.file.close_scan_action.trigger()
    assert window.image.layer is None
    assert window.cursor_status.text() == "No scan open"
    image = window.view_grid.slice_views["axial"].screenshot()
    h, w, _ = image.shape
    assert non_background_fraction(image[h // 4: 3 * h // 4, w // 4: 3 * w // 4]) == 0.0
    assert not window.file.close_scan_action.isEnabled()


def test_cancelled_load_is_ignored_and_the_open_scan_stays(qtbot, window, head_path, tmp_path) -> None:
    from app_phantom import write_head

    layer = open_and_wait(qtbot, window, head_path)
    other = write_head(tmp_path / "other.nii.gz", "RAS", (30, 30, 30), 4.0)
    window.open_path(other)
    assert window.is_loading and window.cancel_button.isVisibleTo(window)
    window.cancel_button.click()
    assert not window.is_loading
    with qtbot.assertNotEmitted(window.scan_loaded, wait=1500):
        pass
    assert window.image.layer is layer
    assert not window._workers  # the finished worker thread was released
