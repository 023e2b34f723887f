"""A bright marker at a known RAS position appears at the same screen position whatever the storage
orientation of the scan (LAS, LIA, oblique), in every slice view, at the anatomically right place."""

from __future__ import annotations

import numpy as np
import pytest
from app_phantom import write_head
from app_helpers import open_and_wait

pytestmark = pytest.mark.gui

MARKER = np.array([21.0, -17.0, 13.0])  # RAS mm: right, posterior, superior of the centre
CAMERA_CENTER = np.array([0.0, 0.0, 0.0])
HALF_HEIGHT_MM = 110.0


def _marker_centroid(image: np.ndarray) -> tuple[float, float] | None:
    """(column, row) centroid of near-white grey pixels (the marker), None if there are none."""
    rgb = image.astype(int)
    bright = (rgb.min(axis=2) > 170) & (rgb.max(axis=2) - rgb.min(axis=2) < 25)
    h, w = bright.shape
    bright[:, : w // 10] = bright[:, -w // 10:] = False  # orientation letters at the edges
    bright[: h // 10] = bright[-h // 10:] = False
    rows, cols = np.nonzero(bright)
    if rows.size == 0:
        return None
    return (float(cols.mean()), float(rows.mean()))


def _scans(tmp_path):
    yield "LAS", write_head(tmp_path / "las.nii.gz", "LAS", (70, 84, 70), 2.0, marker=MARKER)
    yield "LIA", write_head(tmp_path / "lia.mgz", "LIA", (70, 70, 84), 2.0, marker=MARKER)
    yield "oblique", write_head(tmp_path / "oblique.nii.gz", "LIA", (70, 70, 84), 2.0, rotation_deg=20.0,
                                marker=MARKER)


def test_marker_lands_on_the_same_pixel_for_every_storage_orientation(qtbot, window, tmp_path) -> None:
    window.display.set_show_crosshair(False)
    found: dict[str, dict[str, tuple[float, float]]] = {}
    predicted: dict[str, tuple[float, float]] = {}
    for label, path in _scans(tmp_path):
        layer = open_and_wait(qtbot, window, path)
        assert layer.volume.is_oblique == (label == "oblique")
        window.display.set_range(0.0, 400.0)
        window.cursor.set_position(MARKER)
        for name, view in window.view_grid.slice_views.items():
            view.set_camera(CAMERA_CENTER, HALF_HEIGHT_MM)
            centroid = _marker_centroid(view.screenshot())
            assert centroid is not None, f"marker not visible in the {name} view of the {label} scan"
            found.setdefault(name, {})[label] = centroid
            predicted[name] = view.world_to_pixel(MARKER)
    for name, by_scan in found.items():
        for label, (col, row) in by_scan.items():
            assert abs(col - predicted[name][0]) <= 2.0 and abs(row - predicted[name][1]) <= 2.0, (
                f"{name} view, {label} scan: marker at {(col, row)}, expected {predicted[name]}")
    # anatomically right: radiological axial/coronal put the patient's right (x > 0) on the left,
    # superior is up, anterior is up in axial and left in sagittal
    width = {n: v.plotter.width() for n, v in window.view_grid.slice_views.items()}
    height = {n: v.plotter.height() for n, v in window.view_grid.slice_views.items()}
    assert predicted["axial"][0] < width["axial"] / 2 - 10
    assert predicted["axial"][1] > height["axial"] / 2 + 10  # posterior: below the centre
    assert predicted["coronal"][0] < width["coronal"] / 2 - 10
    assert predicted["coronal"][1] < height["coronal"] / 2 - 10  # superior: above
    assert predicted["sagittal"][0] > width["sagittal"] / 2 + 10  # posterior: right
