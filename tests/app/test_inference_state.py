"""Qt-free models behind the inference features: display-grid mapping, brush, edit history,
Dice, model catalogue, corrected results and CSV export. No QApplication needed."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from app.state.display_grid import display_index
from app.state.edit_history import EditHistory
from app.state.mask_editor import MaskEditor, brush_voxels
from app.state.model_catalog import available_models, card_rows, find_bundles
from app.state.segmentation import Segmentation, dice
from volta_core.io import Volume, canonical_ras


def _affine(codes_matrix: np.ndarray, spacing: float = 1.5) -> np.ndarray:
    affine = np.eye(4)
    affine[:3, :3] = codes_matrix * spacing
    affine[:3, 3] = (-20.0, 15.0, -7.0)
    return affine


LIA = np.array([[-1, 0, 0], [0, 0, 1], [0, -1, 0]], dtype=float)


def _labels(shape: tuple[int, int, int], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 3, size=shape).astype(np.uint8)


def test_display_index_matches_canonical_ras_exactly_for_axis_aligned_scans() -> None:
    labels = _labels((12, 9, 7))
    volume = Volume(labels, _affine(LIA))
    display = canonical_ras(Volume(np.zeros(labels.shape, np.float32), volume.affine))
    index = display_index(volume, display.affine, display.shape)
    expected = canonical_ras(Volume(labels, volume.affine), order=0)
    assert index.exact
    assert np.array_equal(index.to_display(labels), expected.data)
    assert np.allclose(expected.affine, display.affine)


def test_display_index_resamples_oblique_scans_by_nearest_neighbour() -> None:
    labels = _labels((16, 14, 12), seed=1)
    angle = np.deg2rad(12)
    rot = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    volume = Volume(labels, _affine(rot, 2.0))
    assert volume.is_oblique
    display = canonical_ras(Volume(labels.astype(np.float32), volume.affine))
    index = display_index(volume, display.affine, display.shape)
    shown = index.to_display(labels)
    reference = canonical_ras(Volume(labels, volume.affine), order=0).data
    assert shown.shape == reference.shape and not index.exact
    assert np.array_equal(shown, reference)
    assert set(np.unique(shown)) <= {0, 1, 2}


def test_brush_is_a_disc_in_the_slice_plane() -> None:
    affine = np.diag([1.0, 1.0, 2.0, 1.0])
    x, y, z = brush_voxels(np.array([10.2, 9.8, 6.0]), 2, 2.0, affine, (30, 30, 10))
    assert len(x) == 13 and set(z.tolist()) == {3}
    assert (x.min(), x.max(), y.min(), y.max()) == (8, 12, 8, 12)
    # coronal: the disc spans x and z; one 2 mm voxel up or down leaves no room along x
    x, y, z = brush_voxels(np.array([10.0, 10.0, 6.0]), 1, 2.0, affine, (30, 30, 10))
    assert set(y.tolist()) == {10} and (z.min(), z.max()) == (2, 4) and len(x) == 5 + 2
    assert len(brush_voxels(np.array([10.0, 10.0, 100.0]), 2, 2.0, affine, (30, 30, 10))[0]) == 0


def _segmentation(shape: tuple[int, int, int] = (20, 20, 20)) -> tuple[Segmentation, np.ndarray]:
    volume = Volume(np.zeros(shape, np.uint8), _affine(LIA, 1.0))
    display = canonical_ras(Volume(np.zeros(shape, np.float32), volume.affine))
    index = display_index(volume, display.affine, display.shape)
    return Segmentation("m", np.zeros(shape, np.uint8), volume.affine, index), display.affine


def test_strokes_are_undone_and_redone_exactly() -> None:
    seg, display_affine = _segmentation()
    history = EditHistory()
    editor = MaskEditor(history)
    editor.set_target(seg)
    editor.set_radius(2.0)
    editor.set_label(1)
    center = display_affine[:3, :3] @ np.array([10, 10, 10]) + display_affine[:3, 3]
    editor.begin_stroke()
    assert editor.dab(center, 2, display_affine) == 13
    assert editor.dab(center + np.array([1.0, 0, 0]), 2, display_affine) == 5  # overlapping dab: (3,0), (2,+-1), (1,+-2) are new
    editor.end_stroke()
    assert seg.volumes_ml()["left"] == pytest.approx(18 * 0.001)
    assert int((seg.display == 1).sum()) == 18
    editor.set_label(0)
    assert editor.dab(center, 2, display_affine) == 13
    editor.end_stroke()
    assert int((seg.labels == 1).sum()) == 5
    assert history.undo() is not None and int((seg.labels == 1).sum()) == 18
    assert history.undo() is not None and int((seg.labels == 1).sum()) == 0
    assert history.undo() is None and not seg.edited
    history.redo()
    assert int((seg.labels == 1).sum()) == 18 and int((seg.display == 1).sum()) == 18
    editor.set_label(2)
    editor.dab(center, 2, display_affine)
    editor.end_stroke()
    assert not history.can_redo  # a new edit drops the redo branch
    assert int((seg.labels == 2).sum()) == 13


def test_dice() -> None:
    a = np.zeros((4, 4, 4), np.uint8)
    b = a.copy()
    a[0, 0, :2] = 1
    b[0, 0, 1:3] = 1
    assert dice(a, b, 1) == pytest.approx(0.5)
    assert dice(a, b, 2) is None
    with pytest.raises(ValueError):
        dice(a, np.zeros((2, 2, 2), np.uint8), 1)


def _write_card(folder: Path, name: str) -> Path:
    folder.mkdir(parents=True)
    card = {"name": name, "architecture": {"model": "segmenter", "encoder": "vit3d_tiny"},
            "input": {"size": [48, 32, 32], "spacing_mm": [2, 2, 2], "space": "template"},
            "heads": {"segmentation": {"trained": True, "labels": {"1": "left", "2": "right"}},
                      "sex": {"trained": False}, "ad": {"trained": False}},
            "metrics": {"training_dice": {"left": 0.81234}}, "intended_use": "research use only, not for diagnosis"}
    (folder / "model_card.json").write_text(json.dumps(card))
    return folder


def test_model_catalogue_lists_user_bundles_and_reads_cards(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("VOLTA_MODELS_DIR", str(tmp_path))
    _write_card(tmp_path / "b", "beta")
    _write_card(tmp_path / "a", "alpha")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "model_card.json").write_text("{not json")
    names = [(e.name, e.origin) for e in available_models() if e.origin == "user"]
    assert names == [("alpha", "user"), ("beta", "user")]
    assert find_bundles(tmp_path / "a", "opened")[0].path == tmp_path / "a"
    rows = dict(card_rows(json.loads((tmp_path / "a" / "model_card.json").read_text())))
    assert rows["Intended use"] == "research use only, not for diagnosis"
    assert "sex: not trained: fine-tune on your data" in rows["Heads"]
    assert "left: 0.8123" in rows["Metrics"]


def test_bundled_models_folder_is_the_resources_one() -> None:
    from app.state.model_catalog import bundled_models_dir
    from volta_core.io.resources import resource_path

    assert bundled_models_dir() == resource_path("models")


def test_corrected_csv_row_uses_the_edited_volumes(tmp_path) -> None:
    from app.export.csv_export import write_csv_row
    from app.state.results import result_rows
    from volta_core.contracts.prediction import (
        ClassResult,
        ModelInfo,
        Prediction,
        QualityReport,
    )

    seg, _ = _segmentation((10, 10, 10))
    labels = np.zeros((10, 10, 10), np.uint8)
    labels[:2] = 1  # 200 voxels of 1 mm^3
    seg.prediction = Prediction(
        labels=labels, probabilities=np.zeros((3, 10, 10, 10), np.float16), affine=seg.affine,
        volumes_ml={"left": 0.2, "right": 0.0, "total": 0.2}, icv_ml=1000.0,
        relative_volumes={"left": 0.02, "right": 0.0, "total": 0.02}, asymmetry_index=2.0,
        classification={h: ClassResult(h, False, None, p) for h, p in (("sex", "M"), ("ad", "AD"))},
        quality=QualityReport(0.8, True, 0.9, None, ("low contrast",)),
        model=ModelInfo("tiny", "2026-01-01", "v1", "/b"), device="CPU", scan="s.nii.gz")
    seg.set_values(np.arange(200), 1)
    seg.set_values(np.arange(200, 250), 2)  # corrected: 200 left, 50 right
    row = next(csv.DictReader(write_csv_row(tmp_path / "r.csv", seg).open()))
    assert row["hippocampus_left_ml"] == "0.2000" and row["hippocampus_right_ml"] == "0.0500"
    assert row["asymmetry_index"] == f"{(0.2 - 0.05) / 0.125:.4f}"
    assert row["p_sex_male"] == "not trained" and row["qc_warnings"] == "low contrast"
    rows = result_rows(seg)
    assert dict(rows.measures)["Right hippocampus (corrected)"] == "0.050 mL (0.005% of ICV)"
    assert rows.warnings == ["low contrast"]
    assert dict(rows.classification)["P(male)"] == "not trained: fine-tune on your data"


def test_app_start_up_does_not_import_torch() -> None:
    code = ("import os, sys; os.environ['QT_API']='pyqt6'; os.environ['QT_QPA_PLATFORM']='offscreen';"
            "from PyQt6.QtWidgets import QApplication; app = QApplication([]);"
            "from app.main_window import MainWindow; from app.settings import open_settings;"
            "w = MainWindow(open_settings()); print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.stdout.strip().splitlines()[-1] == "False", out.stderr
