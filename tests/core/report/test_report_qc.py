"""The per-scan QC picture: real PNGs decoded back, colours and orientation checked in pixels."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from tests.helpers.qc_phantom import LABEL_NAMES, qc_phantom
from volta_core.report.colours import STRUCTURE_COLOURS, hex_colour, label_colour
from volta_core.report.qc import write_scan_qc

ROOT = Path(__file__).resolve().parents[3]


def _rgb(png: Path) -> np.ndarray:
    pixels = imread(png)  # (H, W, 4) float 0..1
    return (pixels[..., :3] * 255).round().astype(np.int16)


def _pixels_of(rgb: np.ndarray, colour: tuple[float, float, float], tolerance: int = 12) -> int:
    target = np.round(np.asarray(colour) * 255)
    return int(np.all(np.abs(rgb - target) <= tolerance, axis=-1).sum())


def test_outlines_every_structure_in_its_app_colour(tmp_path: Path) -> None:
    image, labels = qc_phantom()
    out = write_scan_qc(image, labels, (2.0, 2.0, 2.0), tmp_path / "figures" / "sub-01_qc.png", LABEL_NAMES)
    assert out == tmp_path / "figures" / "sub-01_qc.png"
    rgb = _rgb(out)
    assert rgb.shape[0] > 400 and rgb.shape[1] > 600  # two rows (one per hippocampus) of three views
    for value in range(1, 7):
        assert _pixels_of(rgb, STRUCTURE_COLOURS[LABEL_NAMES[value]]) > 40, LABEL_NAMES[value]
    assert [p.name for p in out.parent.iterdir()] == ["sub-01_qc.png"]  # no temporary left behind


def test_only_the_structures_present_are_drawn(tmp_path: Path) -> None:
    image, labels = qc_phantom(structures=(2,))
    rgb = _rgb(write_scan_qc(image, labels, (2.0, 2.0, 2.0), tmp_path / "qc.png", LABEL_NAMES))
    assert _pixels_of(rgb, STRUCTURE_COLOURS["right hippocampus"]) > 40
    assert _pixels_of(rgb, STRUCTURE_COLOURS["left hippocampus"]) == 0
    assert rgb.shape[0] < 400  # one row: one hippocampus


def test_no_hippocampus_still_gives_a_picture_that_says_so(tmp_path: Path) -> None:
    image, labels = qc_phantom()
    empty = write_scan_qc(image, np.zeros_like(labels), (2.0, 2.0, 2.0), tmp_path / "empty.png", LABEL_NAMES)
    normal = write_scan_qc(image, labels, (2.0, 2.0, 2.0), tmp_path / "normal.png", LABEL_NAMES)
    caption = (1.0, 0.702, 0.278)  # the orange of the "no hippocampus segmented" title, above the views
    assert _pixels_of(_rgb(empty)[:30], caption, tolerance=20) > 50
    assert _pixels_of(_rgb(normal)[:30], caption, tolerance=20) == 0


def _bright_side(rgb: np.ndarray, column: int) -> tuple[float, float]:
    """Centre of the bright grey pixels of panel ``column`` (0..2) as fractions of the panel: (x, y)."""
    third = rgb[:, column * rgb.shape[1] // 3:(column + 1) * rgb.shape[1] // 3]
    grey = (np.abs(third[..., 0] - third[..., 2]) < 20) & (np.abs(third[..., 0] - third[..., 1]) < 20)
    panel = grey & (np.abs(third[..., 0] - 17) > 6)  # inside a panel: not the figure's background
    rows, cols = np.nonzero(panel)
    top, bottom, left, right = rows.min(), rows.max(), cols.min(), cols.max()
    bright_rows, bright_cols = np.nonzero(grey & (third[..., 0] > 120))
    return ((bright_cols.mean() - left) / (right - left), (bright_rows.mean() - top) / (bottom - top))


def test_views_are_radiological_with_anterior_left_in_sagittal(tmp_path: Path) -> None:
    shape = (40, 44, 36)
    x, y, z = np.meshgrid(*(np.arange(n) for n in shape), indexing="ij")
    right_side = np.where(x >= shape[0] // 2, 200.0, 10.0).astype(np.float32)  # RAS: high x = patient's right
    anterior_top = np.where((y >= shape[1] // 2) & (z >= shape[2] // 2), 200.0, 10.0).astype(np.float32)
    no_labels = np.zeros(shape, np.uint8)
    rgb = _rgb(write_scan_qc(right_side, no_labels, (1.0, 1.0, 1.0), tmp_path / "lr.png", LABEL_NAMES))
    assert _bright_side(rgb, 0)[0] < 0.4  # axial: the patient's right on the picture's left
    assert _bright_side(rgb, 1)[0] < 0.4  # coronal: the same
    rgb = _rgb(write_scan_qc(anterior_top, no_labels, (1.0, 1.0, 1.0), tmp_path / "as.png", LABEL_NAMES))
    sagittal_x, sagittal_y = _bright_side(rgb, 2)
    assert sagittal_x < 0.4 and sagittal_y < 0.4  # sagittal: anterior left, superior up
    assert _bright_side(rgb, 1)[1] < 0.4  # coronal: superior up


def test_anisotropic_voxels_keep_true_proportions(tmp_path: Path) -> None:
    image, labels = qc_phantom(shape=(64, 72, 20), zooms=(2.0, 2.0, 6.0))
    out = write_scan_qc(image, labels, (2.0, 2.0, 6.0), tmp_path / "thick.png", LABEL_NAMES)
    assert _pixels_of(_rgb(out), STRUCTURE_COLOURS["left hippocampus"]) > 20


@pytest.mark.parametrize(("image_shape", "label_shape", "zooms"), [
    ((10, 10, 10), (10, 10, 9), (1.0, 1.0, 1.0)),
    ((10, 10), (10, 10), (1.0, 1.0, 1.0)),
    ((10, 10, 10), (10, 10, 10), (1.0, 0.0, 1.0)),
    ((10, 10, 10), (10, 10, 10), (1.0, 1.0)),
])
def test_bad_input_is_refused_before_anything_is_written(tmp_path: Path, image_shape, label_shape, zooms) -> None:
    with pytest.raises(ValueError, match="write_scan_qc|zooms"):
        write_scan_qc(np.zeros(image_shape), np.zeros(label_shape, np.uint8), zooms, tmp_path / "x.png", LABEL_NAMES)
    assert not list(tmp_path.iterdir())


def test_unknown_labels_get_a_fallback_colour_and_nan_voxels_are_shown(tmp_path: Path) -> None:
    image, labels = qc_phantom(structures=(1, 2))
    labels[labels == 2] = 9  # a label the names table does not know
    image[0] = np.nan
    out = write_scan_qc(image, labels, (2.0, 2.0, 2.0), tmp_path / "odd.png", {"1": "left hippocampus"})
    assert _pixels_of(_rgb(out), label_colour(9, "label 9")) > 20
    assert _pixels_of(_rgb(out), STRUCTURE_COLOURS["left hippocampus"]) > 20  # "1" from JSON is label 1


def test_colours_match_the_app() -> None:
    from app.state.layers import DEFAULT_COLORS
    from volta_core.contracts.prediction import label_names_for

    for value, name in label_names_for(7).items():
        if value:
            assert label_colour(value, name) == DEFAULT_COLORS[value], name
    assert hex_colour((1.0, 0.55, 0.1)) == "#ff8c1a"


def test_the_report_package_imports_without_torch() -> None:
    code = ("import sys, volta_core.report.qc, volta_core.report.gallery, volta_core.report.group_report; "
            "print(sorted(m for m in ('torch', 'PyQt6', 'vtk') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                            env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert result.stdout.strip() == "[]"
