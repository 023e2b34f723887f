"""DICOM series written by the test (one file per slice) read back with exact geometry."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from pydicom.uid import generate_uid

from tests.helpers.dicom_series import get_position, set_position, write_dicom_series
from tests.helpers.synthetic import grid_affine, make_synthetic_head, probe_world_points, random_volume
from volta_core.io import (
    DicomSeriesError,
    MultipleSeriesError,
    NotAVolumeError,
    Volume,
    list_dicom_series,
    load_volume,
)

SHAPE = (24, 28, 20)


def _world_error(a: Volume, b: Volume) -> float:
    return float(np.abs(probe_world_points(a) - probe_world_points(b)).max())


def test_series_written_from_nifti_reads_back_with_same_world_coordinates(tmp_path: Path,
                                                                          oblique_affine: np.ndarray) -> None:
    head = make_synthetic_head(SHAPE, oblique_affine, dtype=np.int16)
    nifti = tmp_path / "head.nii.gz"
    nib.save(nib.Nifti1Image(head.data, head.affine), str(nifti))
    source = load_volume(nifti)
    assert source.is_oblique and len({round(s, 3) for s in source.spacing}) == 3
    write_dicom_series(source, tmp_path / "series")
    loaded = load_volume(tmp_path / "series")
    assert loaded.shape == source.shape
    np.testing.assert_array_equal(loaded.data, source.data)
    assert _world_error(loaded, source) < 0.01
    assert loaded.metadata["format"] == "dicom" and loaded.metadata["n_files"] == SHAPE[2]


def test_axis_aligned_anisotropic_series_round_trip(tmp_path: Path) -> None:
    source = random_volume(SHAPE, grid_affine(SHAPE, axcodes="LPS", spacing=(0.5, 0.7, 3.0)), seed=5)
    write_dicom_series(source, tmp_path / "series")
    loaded = load_volume(tmp_path / "series")
    np.testing.assert_array_equal(loaded.data, source.data)
    assert _world_error(loaded, source) < 0.01
    assert loaded.orientation == ("L", "P", "S")


def test_slice_files_in_shuffled_names_are_ordered_by_position(tmp_path: Path, oblique_volume: Volume) -> None:
    files = write_dicom_series(oblique_volume, tmp_path / "tmp")
    target = tmp_path / "series"
    target.mkdir()
    rng = np.random.default_rng(0)
    for new_index, f in zip(rng.permutation(len(files)), files):
        shutil.copy(f, target / f"IM{new_index:03d}")  # no suffix, random order, like many PACS exports
    loaded = load_volume(target)
    np.testing.assert_array_equal(loaded.data, oblique_volume.data)
    assert _world_error(loaded, oblique_volume) < 0.01


def test_single_dcm_file_opens_its_whole_series(tmp_path: Path, oblique_volume: Volume) -> None:
    files = write_dicom_series(oblique_volume, tmp_path / "series")
    loaded = load_volume(files[7])
    np.testing.assert_array_equal(loaded.data, oblique_volume.data)
    assert _world_error(loaded, oblique_volume) < 0.01


def test_patient_identifiers_only_under_patient(tmp_path: Path, oblique_volume: Volume) -> None:
    write_dicom_series(oblique_volume, tmp_path / "series", patient_name="Roe^Richard", patient_id="X-77",
                       birth_date="19511231", description="Sag T1 3D")
    meta = load_volume(tmp_path / "series").metadata
    assert meta["patient"]["name"] == "Roe^Richard"
    assert meta["patient"]["id"] == "X-77"
    assert meta["patient"]["birth_date"] == "19511231"
    assert meta["dicom"]["series_description"] == "Sag T1 3D"
    assert meta["dicom"]["modality"] == "MR"
    json.dumps(meta)
    outside_patient = repr({k: v for k, v in meta.items() if k != "patient"})
    for identifier in ("Roe^Richard", "X-77", "19511231"):
        assert identifier not in outside_patient


def test_folder_with_two_series_lists_both_then_series_uid_picks_one(tmp_path: Path) -> None:
    folder = tmp_path / "study"
    study = generate_uid()
    t1 = random_volume(SHAPE, grid_affine(SHAPE, axcodes="LPS"), seed=1)
    t2 = random_volume((20, 22, 12), grid_affine((20, 22, 12), axcodes="LPS", spacing=(1.1, 1.1, 2.0)), seed=2)
    uid1, uid2 = generate_uid(), generate_uid()
    write_dicom_series(t1, folder, series_uid=uid1, study_uid=study, description="T1", prefix="t1")
    write_dicom_series(t2, folder, series_uid=uid2, study_uid=study, description="T2 FLAIR", prefix="t2")
    with pytest.raises(MultipleSeriesError) as caught:
        load_volume(folder)
    error = caught.value
    assert error.message and error.hint
    assert {s.uid for s in error.series} == {uid1, uid2}
    by_uid = {s.uid: s for s in error.series}
    assert (by_uid[uid1].n_slices, by_uid[uid1].size, by_uid[uid1].modality) == (20, (28, 24), "MR")
    assert (by_uid[uid2].n_slices, by_uid[uid2].size, by_uid[uid2].description) == (12, (22, 20), "T2 FLAIR")
    assert "T1" in error.message and "T2 FLAIR" in error.message
    assert [s.uid for s in list_dicom_series(folder)] == [uid1, uid2]  # sorted by description
    picked = load_volume(folder, series_uid=uid2)
    np.testing.assert_array_equal(picked.data, t2.data)
    assert _world_error(picked, t2) < 0.01
    # a slice file of the second series opens the second series, not the error
    np.testing.assert_array_equal(load_volume(folder / "t2_0003.dcm").data, t2.data)


def test_unknown_series_uid_is_a_dicom_series_error(tmp_path: Path, oblique_volume: Volume) -> None:
    write_dicom_series(oblique_volume, tmp_path / "series")
    with pytest.raises(DicomSeriesError) as caught:
        load_volume(tmp_path / "series", series_uid="1.2.3.4")
    assert caught.value.message and caught.value.hint


def test_missing_slice_is_reported(tmp_path: Path, oblique_volume: Volume) -> None:
    files = write_dicom_series(oblique_volume, tmp_path / "series")
    files[9].unlink()
    with pytest.raises(DicomSeriesError, match="missing") as caught:
        load_volume(tmp_path / "series")
    assert caught.value.hint


def test_duplicated_slice_is_reported(tmp_path: Path, oblique_volume: Volume) -> None:
    files = write_dicom_series(oblique_volume, tmp_path / "series")
    ds = pydicom.dcmread(str(files[4]))
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.save_as(str(tmp_path / "series" / "slice_0004_copy.dcm"), enforce_file_format=True)
    with pytest.raises(DicomSeriesError, match="same position") as caught:
        load_volume(tmp_path / "series")
    assert caught.value.hint


def test_irregular_spacing_is_reported(tmp_path: Path, oblique_volume: Volume) -> None:
    files = write_dicom_series(oblique_volume, tmp_path / "series")
    before, after = get_position(files[5]), get_position(files[6])
    set_position(files[6], before + 0.6 * (after - before))  # 0.6 of a step instead of 1
    with pytest.raises(DicomSeriesError, match="irregular") as caught:
        load_volume(tmp_path / "series")
    assert caught.value.hint


def test_mixed_slice_sizes_in_one_series_are_reported(tmp_path: Path) -> None:
    uid = generate_uid()
    stack = random_volume(SHAPE, grid_affine(SHAPE, axcodes="LPS"), seed=1)
    write_dicom_series(stack, tmp_path / "series", series_uid=uid, prefix="a")
    other_shape = (20, 28, 3)
    other = random_volume(other_shape, grid_affine(other_shape, axcodes="LPS", center=(0, 0, 40)), seed=2)
    write_dicom_series(other, tmp_path / "series", series_uid=uid, prefix="b")
    with pytest.raises(DicomSeriesError) as caught:
        load_volume(tmp_path / "series")
    assert caught.value.message and caught.value.hint


def test_single_2d_slice_is_not_a_volume(tmp_path: Path, oblique_volume: Volume) -> None:
    files = write_dicom_series(oblique_volume, tmp_path / "series")
    lonely = tmp_path / "lonely"
    lonely.mkdir()
    shutil.copy(files[0], lonely / "only.dcm")
    with pytest.raises(NotAVolumeError) as caught:
        load_volume(lonely / "only.dcm")
    assert caught.value.message and caught.value.hint


def test_slice_file_without_suffix_is_recognised_as_dicom(tmp_path: Path, oblique_volume: Volume) -> None:
    files = write_dicom_series(oblique_volume, tmp_path / "tmp")
    target = tmp_path / "series"
    target.mkdir()
    for index, f in enumerate(files):
        f.rename(target / f"IM{index:04d}")
    loaded = load_volume(target / "IM0004")
    np.testing.assert_array_equal(loaded.data, oblique_volume.data)
