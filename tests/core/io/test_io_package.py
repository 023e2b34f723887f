"""Package-level facts: supported names, dialog filter, resources, the sample scan, no torch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import volta_core.io as vio
from volta_core.io import (
    FILE_DIALOG_FILTER,
    SUPPORTED_SUFFIXES,
    FileAccessError,
    is_supported,
    load_volume,
    resource_path,
    sample_scan_path,
)

REPO = Path(__file__).resolve().parents[3]


def test_importing_io_does_not_import_torch() -> None:
    code = "import sys, volta_core.io; print('torch' in sys.modules, 'volta_core.model' in sys.modules)"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=60, check=True)
    assert result.stdout.split() == ["False", "False"]


def test_public_api_is_exported() -> None:
    for name in ("load_volume", "list_dicom_series", "save_volume", "save_mask", "canonical_ras",
                 "SUPPORTED_SUFFIXES", "is_supported", "FILE_DIALOG_FILTER", "resource_path", "sample_scan_path"):
        assert name in vio.__all__ and hasattr(vio, name), name


@pytest.mark.parametrize("name,expected", [
    ("a.nii", True), ("a.NII.GZ", True), ("a.mgz", True), ("a.mgh", True), ("a.nrrd", True), ("a.nhdr", True),
    ("a.mha", True), ("a.mhd", True), ("IM0001.dcm", True), ("a.png", False), ("a.gz", False), ("a.txt", False),
    ("a.raw", False),
])
def test_is_supported_by_name(name: str, expected: bool) -> None:
    assert is_supported(name) is expected


def test_a_folder_is_supported_as_a_dicom_series(tmp_path: Path) -> None:
    assert is_supported(tmp_path)


def test_dialog_filter_lists_every_suffix() -> None:
    first = FILE_DIALOG_FILTER.split(";;")[0]
    for suffix in SUPPORTED_SUFFIXES:
        assert f"*{suffix}" in first
    for family in ("NIfTI", "MGZ", "NRRD", "MHA", "DICOM"):
        assert family in FILE_DIALOG_FILTER


def test_resource_path_in_a_checkout_and_in_a_pyinstaller_bundle(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    assert resource_path("licenses/FreeSurfer-LICENSE.txt") == REPO / "resources" / "licenses" / "FreeSurfer-LICENSE.txt"
    # PyInstaller sets sys._MEIPASS to the unpacked bundle; emulate that attribute.
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    assert resource_path("sample/x.mgz") == tmp_path / "resources" / "sample" / "x.mgz"
    with pytest.raises(FileAccessError):
        sample_scan_path()  # not in this fake bundle
    (tmp_path / "resources" / "sample").mkdir(parents=True)
    (tmp_path / "resources" / "sample" / "fsaverage_T1.mgz").write_bytes(b"x")
    assert sample_scan_path() == tmp_path / "resources" / "sample" / "fsaverage_T1.mgz"


def test_resource_path_refuses_escaping_paths() -> None:
    with pytest.raises(ValueError):
        resource_path("../pyproject.toml")


def test_sample_scan_is_the_256_cube_lia_fsaverage() -> None:
    path = sample_scan_path()
    assert path == REPO / "resources" / "sample" / "fsaverage_T1.mgz"
    assert path.stat().st_size < 15 * 2**20
    volume = load_volume(path)  # its load time is measured by benchmarks/, never asserted here
    assert volume.shape == (256, 256, 256)
    assert volume.orientation == ("L", "I", "A")
    assert volume.data.dtype == np.uint8
    np.testing.assert_allclose(volume.spacing, (1.0, 1.0, 1.0))
    assert volume.metadata["format"] == "mgz"
    # a head, not an empty box: bright tissue in the middle, air in the corners
    assert volume.data[128, 128, 128] > 40 and volume.data[0, 0, 0] == 0


def test_sample_licence_and_readme_ship_with_the_scan() -> None:
    licence = (REPO / "resources" / "licenses" / "FreeSurfer-LICENSE.txt").read_text()
    assert "FreeSurfer Software License Agreement" in licence
    readme = (REPO / "resources" / "sample" / "README.md").read_text()
    assert "fsaverage" in readme and "Research use only" in readme and "smriprep-freesurfer732" in readme


def test_without_patient_drops_only_the_identifiers() -> None:
    volume = vio.Volume(np.zeros((2, 2, 2), np.float32), np.eye(4),
                        metadata={"patient": {"PatientName": "Doe^Jane"}, "format": "dicom"})
    clean = volume.without_patient()
    assert clean.metadata == {"format": "dicom"} and "patient" in volume.metadata
    assert clean.data is volume.data and np.array_equal(clean.affine, volume.affine)
