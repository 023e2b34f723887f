"""The Qt-free state models and slice geometry (no QApplication needed)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from app_phantom import grid_affine

from app.state import (
    PRESETS,
    CursorModel,
    DisplayOptions,
    ImageLayer,
    ImageStats,
    Layout,
    RecentFiles,
    Signal,
    preset_range,
)
from app.viewers.slice_geometry import extract_slice, plane_geometry, slice_grid
from volta_core.io import Volume, canonical_ras


def test_signal_calls_in_order_and_disconnects() -> None:
    calls: list[tuple[str, int]] = []
    signal = Signal()
    first, second = (lambda v: calls.append(("a", v))), (lambda v: calls.append(("b", v)))
    signal.connect(first)
    signal.connect(second)
    signal.connect(first)  # connecting twice does not call twice
    signal.emit(1)
    signal.disconnect(first)
    signal.emit(2)
    assert calls == [("a", 1), ("b", 1), ("b", 2)]
    assert len(signal) == 1


def test_cursor_emits_only_on_change_and_rejects_nan() -> None:
    cursor = CursorModel()
    seen: list[np.ndarray] = []
    cursor.changed.connect(seen.append)
    cursor.set_position((1.0, 2.0, 3.0))
    cursor.set_position((1.0, 2.0, 3.0))
    cursor.set_axis(2, -5.0)
    assert len(seen) == 2
    np.testing.assert_allclose(cursor.position, [1.0, 2.0, -5.0])
    with pytest.raises(ValueError):
        cursor.set_position((np.nan, 0.0, 0.0))


def test_display_options_window_level_and_fields() -> None:
    display = DisplayOptions()
    fields: list[str] = []
    display.changed.connect(fields.append)
    display.set_range(100.0, 300.0)
    assert display.window == pytest.approx(200.0) and display.level == pytest.approx(200.0)
    assert display.display_range == pytest.approx((100.0, 300.0))
    display.set_radiological(False)
    display.set_radiological(False)
    display.set_layout("1+3")
    display.set_main_view("coronal")
    display.set_colormap("hot")
    assert display.layout is Layout.ONE_PLUS_THREE
    assert fields == ["window_level", "radiological", "layout", "main_view", "colormap"]
    with pytest.raises(ValueError):
        display.set_colormap("rainbow")
    with pytest.raises(ValueError):
        display.set_layout("3x3")


def test_recent_files_most_recent_first_unique_and_limited(tmp_path) -> None:
    recent = RecentFiles(limit=3)
    for name in ("a", "b", "c", "a", "d"):
        recent.add(tmp_path / name)
    assert [p.rsplit("/", 1)[-1] for p in recent.paths] == ["d", "a", "c"]
    restored = RecentFiles(recent.paths, limit=3)
    assert restored.paths == recent.paths


def test_presets_follow_the_intensities() -> None:
    rng = np.random.default_rng(0)
    data = np.zeros((40, 40, 40), dtype=np.float32)
    data[10:30, 10:30, 10:30] = rng.normal(500.0, 50.0, (20, 20, 20))
    data[0, 0, 0] = 5000.0  # one hot voxel: "Full range" sees it, the others do not
    stats = ImageStats.from_array(data)
    assert preset_range(stats, "Full range") == (0.0, 5000.0)
    low, high = preset_range(stats, PRESETS[0])
    assert low == pytest.approx(0.0) and 550.0 < high < 800.0
    brain_low, brain_high = preset_range(stats, "T1 brain")
    assert 300.0 < brain_low < 450.0 and 550.0 < brain_high < 800.0
    with pytest.raises(ValueError):
        preset_range(stats, "bone")


def _lia_layer() -> ImageLayer:
    shape = (6, 7, 8)
    affine = grid_affine("LIA", 2.0, shape)
    data = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    volume = Volume(data, affine)
    return ImageLayer(volume, canonical_ras(volume), ImageStats.from_array(data), "lia")


def test_image_layer_reports_original_storage_index_and_value() -> None:
    layer = _lia_layer()
    ijk = np.array([1, 5, 6])
    world = layer.volume.voxel_to_world(ijk)
    sample = layer.sample(world + 0.4)  # within half a voxel: same voxel
    assert sample.index == (1, 5, 6)
    assert sample.value == float(layer.volume.data[1, 5, 6])
    assert layer.sample(world + 100.0).index is None
    # the display grid holds the same value at the same world point
    d = np.rint(layer.display_index(world)).astype(int)
    assert layer.display.data[tuple(d)] == sample.value
    assert layer.describe()["Orientation"] == "LIA"


def test_image_layer_rejects_a_display_grid_that_is_not_ras() -> None:
    layer = _lia_layer()
    with pytest.raises(ValueError):
        ImageLayer(layer.volume, layer.volume, layer.stats, "raw LIA is not RAS")


@pytest.mark.parametrize(("name", "radiological", "edges"), [
    ("axial", True, {"left": "R", "right": "L", "top": "A", "bottom": "P"}),
    ("axial", False, {"left": "L", "right": "R", "top": "A", "bottom": "P"}),
    ("coronal", True, {"left": "R", "right": "L", "top": "S", "bottom": "I"}),
    ("sagittal", True, {"left": "A", "right": "P", "top": "S", "bottom": "I"}),
    ("sagittal", False, {"left": "A", "right": "P", "top": "S", "bottom": "I"}),
])
def test_edge_labels(name: str, radiological: bool, edges: dict[str, str]) -> None:
    assert plane_geometry(name, radiological).edge_labels() == edges


@pytest.mark.parametrize("name", ["axial", "coronal", "sagittal"])
@pytest.mark.parametrize("radiological", [True, False])
def test_extracted_slice_pixels_sit_at_their_plane_coordinates(name: str, radiological: bool) -> None:
    """Pixel (row r, column c) of a slice must hold the voxel at plane position origin + (c, r) * spacing."""
    shape, spacing, origin = (5, 6, 7), np.array([1.0, 2.0, 3.0]), np.array([-10.0, 4.0, 20.0])
    data = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    geometry = plane_geometry(name, radiological)
    grid = slice_grid(geometry, shape, spacing, origin)
    index = 2
    image = extract_slice(geometry, data, index)
    assert image.shape == (grid.dims[1], grid.dims[0])
    for row in range(image.shape[0]):
        for col in range(image.shape[1]):
            u = grid.origin[0] + col * grid.spacing[0]
            v = grid.origin[1] + row * grid.spacing[1]
            world = geometry.to_world(u, v, origin[geometry.normal] + index * spacing[geometry.normal])
            ijk = tuple(np.rint((world - origin) / spacing).astype(int))
            assert image[row, col] == data[ijk]


def test_state_imports_without_qt_or_vtk() -> None:
    code = ("import sys, app.state; bad = [m for m in ('PyQt6', 'vtk', 'vtkmodules', 'pyvista', 'torch') "
            "if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
