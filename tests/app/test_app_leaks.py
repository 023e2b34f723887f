"""Opening and closing many scans must not leak widgets, VTK props, plotters, workers or voxel data."""

from __future__ import annotations

import gc
import weakref

import pytest
from app_phantom import write_head
from app_helpers import open_and_wait
from PyQt6.QtCore import QCoreApplication, QEvent
from PyQt6.QtWidgets import QApplication

pytestmark = pytest.mark.gui


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


def _flush(qtbot) -> None:
    qtbot.wait(10)
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete.value)
    gc.collect()


def _census(window) -> dict[str, int]:
    from pyvista.plotting.plotter import _ALL_PLOTTERS

    counts = {"widgets": len(QApplication.allWidgets()), "plotters": len(_ALL_PLOTTERS),
              "workers": len(window._workers)}
    for name, view in window.view_grid.views.items():
        counts[f"{name} props"] = view.renderer.GetViewProps().GetNumberOfItems()
    for name, view in window.view_grid.slice_views.items():
        counts[f"{name} texture refs"] = view.slice_image.image_data.GetReferenceCount()
    counts["3d input refs"] = window.view_grid.volume_view._image_data.GetReferenceCount()
    return counts


def test_open_and_close_20_scans_leaks_nothing(qtbot, window, tmp_path) -> None:
    # two sizes (96^3 float32 = 3.4 MB, twice: scan + display copy) so every view's buffers are
    # re-allocated; keeping 20 of them alive would add > 100 MB
    paths = [write_head(tmp_path / "a.nii.gz", "LIA", (96, 96, 96), 2.0),
             write_head(tmp_path / "b.mgz", "RAS", (80, 96, 88), 2.2)]
    open_and_wait(qtbot, window, paths[1])
    window.close_scan()
    _flush(qtbot)
    before, rss_before = _census(window), _rss_mb()
    first = open_and_wait(qtbot, window, paths[0])
    first_ref = weakref.ref(first.volume)
    del first
    for i in range(20):
        if i:
            open_and_wait(qtbot, window, paths[i % 2])
        window.view_grid.slice_views["axial"].step_slice(3)
        window.close_scan()
    _flush(qtbot)
    after = _census(window)
    assert after == before
    assert first_ref() is None, "the first scan's voxels are still referenced"
    assert _rss_mb() - rss_before < 60.0


def test_closing_the_window_releases_every_render_window(qtbot, head_path) -> None:
    from pyvista.plotting.plotter import _ALL_PLOTTERS

    from app.main_window import MainWindow
    from app.settings import open_settings

    plotters_before = len(_ALL_PLOTTERS)
    window = MainWindow(open_settings())
    window.show()
    qtbot.waitExposed(window)
    window.create_views()
    open_and_wait(qtbot, window, head_path)
    plotters = [view.plotter for view in window.view_grid.views.values()]
    assert len(_ALL_PLOTTERS) == plotters_before + 4
    window.close()
    _flush(qtbot)
    assert all(p._closed for p in plotters)
    assert len(_ALL_PLOTTERS) == plotters_before
    window.deleteLater()
    _flush(qtbot)
