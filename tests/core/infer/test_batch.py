"""`volta predict` over a folder: right rows and statuses, exit codes, masks on the input grid, resume."""

from __future__ import annotations

import csv
import gzip
import json
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from tests.core.infer.conftest import reoriented_copy, save_nifti
from volta_core.cli import main as volta
from volta_core.infer.results_store import RESULTS_COLUMNS


def _rows(out: Path) -> dict[str, dict[str, str]]:
    with open(out / "results.csv", newline="") as handle:
        return {row["scan"]: row for row in csv.DictReader(handle)}


@pytest.fixture
def mixed_folder(tmp_path: Path, template_scan) -> Path:
    folder = tmp_path / "scans"
    folder.mkdir()
    save_nifti(reoriented_copy(template_scan, "LAS"), folder / "good_las.nii.gz")
    lia = reoriented_copy(template_scan, "LIA")
    nib.save(nib.MGHImage(lia.data.astype(np.float32), lia.affine), str(folder / "good_lia.mgz"))
    raw = gzip.compress(b"\x00" * 4096)
    (folder / "corrupt.nii.gz").write_bytes(raw[: len(raw) // 2])  # truncated gzip
    nib.save(nib.Nifti1Image(np.ones((40, 40), dtype=np.float32), np.eye(4)), str(folder / "slice2d.nii.gz"))
    return folder


def test_batch_rows_statuses_and_outputs(mixed_folder: Path, tmp_path: Path, tiny_bundle: Path):
    out = tmp_path / "out"
    code = volta(["predict", str(mixed_folder), "--out", str(out), "--model", str(tiny_bundle),
                  "--device", "cpu", "--quiet"])
    assert code == 0  # some scans failed, not all
    rows = _rows(out)
    assert set(rows) == {"good_las", "good_lia", "corrupt", "slice2d"}
    assert list(next(iter(rows.values())).keys()) == list(RESULTS_COLUMNS)  # a single-scan export's, then provenance
    assert rows["good_las"]["status"] == rows["good_lia"]["status"] == "ok"
    assert rows["corrupt"]["status"] == "failed"
    assert any(word in rows["corrupt"]["error"].lower() for word in ("damaged", "truncated", "corrupt"))
    assert rows["slice2d"]["status"] == "failed" and "3D" in rows["slice2d"]["error"]
    for name, source in (("good_las", "good_las.nii.gz"), ("good_lia", "good_lia.mgz")):
        row = rows[name]
        assert row["p_sex_male"] == "not trained" and row["p_ad"] == "not trained"
        assert float(row["hippocampus_left_ml"]) >= 0 and row["model"] == "tiny-test-segmenter"
        mask = nib.load(str(out / f"{name}_hippocampus_mask.nii.gz"))
        scan = nib.load(str(mixed_folder / source))
        assert mask.shape == scan.shape
        np.testing.assert_allclose(mask.affine, scan.affine, atol=1e-4)
        summary = json.loads((out / f"{name}.json").read_text())
        assert summary["volumes_ml"]["left"] == pytest.approx(float(row["hippocampus_left_ml"]), abs=1e-3)
        assert "labels" in summary and "probabilities" not in summary


def test_all_failed_gives_nonzero_exit(tmp_path: Path, tiny_bundle: Path):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "a.nii.gz").write_bytes(b"\x1f\x8b\x08garbage")
    out = tmp_path / "out"
    assert volta(["predict", str(folder), "--out", str(out), "--model", str(tiny_bundle), "--quiet"]) == 1
    assert _rows(out)["a"]["status"] == "failed"


def test_interrupted_batch_resumes(mixed_folder: Path, tmp_path: Path, tiny_bundle: Path):
    out = tmp_path / "out"
    args = ["predict", str(mixed_folder), "--out", str(out), "--model", str(tiny_bundle), "--quiet"]
    assert volta(args) == 0
    done_mask = out / "good_las_hippocampus_mask.nii.gz"
    stamp = done_mask.stat().st_mtime_ns
    (out / "good_lia.json").unlink()  # as if the run was killed while writing this scan's outputs
    assert volta(args) == 0
    assert done_mask.stat().st_mtime_ns == stamp  # not redone
    assert (out / "good_lia.json").is_file()     # redone
    rows = _rows(out)
    assert rows["good_lia"]["status"] == "ok" and len(rows) == 4


def test_cli_runs_as_a_process(tmp_path: Path, template_scan, tiny_bundle: Path):
    scan = save_nifti(template_scan, tmp_path / "t1.nii.gz")
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "volta_core.cli", "predict", str(scan), "--out", str(out),
                           "--model", str(tiny_bundle), "--threads", "1"], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "1 ok, 0 failed" in proc.stderr
    assert (out / "t1_hippocampus_mask.nii.gz").is_file()


def test_no_inputs_found(tmp_path: Path, tiny_bundle: Path):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert volta(["predict", str(empty), "--out", str(tmp_path / "o"), "--model", str(tiny_bundle)]) == 2


def test_fine_grid_writes_the_mask_on_subdivided_slices(tmp_path: Path, template_scan, tiny_bundle: Path):
    from volta_core.train.heldout import thick_slices

    thick = thick_slices(template_scan, 6.0)  # 1.5 mm in-plane, 6 mm slices
    scan = save_nifti(thick, tmp_path / "thick.nii.gz")
    out = tmp_path / "out"
    args = ["predict", str(scan), "--out", str(out), "--model", str(tiny_bundle), "--device", "cpu", "--quiet"]
    assert volta(args + ["--fine-grid"]) == 0
    mask = nib.load(str(out / "thick_hippocampus_mask.nii.gz"))
    axis = int(np.argmax(thick.spacing))
    expected = list(thick.shape)
    expected[axis] *= 6  # 6 mm -> six 1 mm slices; the 1.5 mm axes stay
    assert list(mask.shape) == expected
    corner = mask.affine @ np.array([0, 0, 0, 1.0])  # the first new voxel sits in the first old one
    step = thick.affine[:3, axis] / 6
    np.testing.assert_allclose(corner[:3], thick.affine[:3, 3] - 2.5 * step, atol=1e-4)
    summary = json.loads((out / "thick.json").read_text())
    assert any("6.0 mm slices" in w and "finer grid" in w for w in summary["quality"]["warnings"])
    assert volta(args) == 0  # without the option the scan is redone on its own grid
    assert nib.load(str(out / "thick_hippocampus_mask.nii.gz")).shape == thick.shape
    summary = json.loads((out / "thick.json").read_text())
    assert any("--fine-grid" in w for w in summary["quality"]["warnings"])


def test_fine_grid_is_refused_in_the_bids_form(tmp_path: Path, tiny_bundle: Path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        volta(["predict", str(tmp_path / "bids"), str(tmp_path / "derivatives"), "participant", "--fine-grid",
               "--model", str(tiny_bundle)])
    assert exit_info.value.code == 2
    assert "--fine-grid is for the files-and-folders form" in capsys.readouterr().err


def test_fine_grid_too_large_fails_that_scan_with_a_clear_error(tmp_path: Path, template_scan, tiny_bundle: Path,
                                                                 monkeypatch):
    from volta_core.preprocess import resample
    from volta_core.train.heldout import thick_slices

    scan = save_nifti(thick_slices(template_scan, 6.0), tmp_path / "thick.nii.gz")
    monkeypatch.setattr(resample, "MAX_SUBDIVIDED_VOXELS", 1000)
    out = tmp_path / "out"
    assert volta(["predict", str(scan), "--out", str(out), "--model", str(tiny_bundle), "--fine-grid",
                  "--quiet"]) == 1
    row = _rows(out)["thick"]
    assert row["status"] == "failed" and "crop it to the head first" in row["error"]
    assert "unexpected" not in row["error"]
