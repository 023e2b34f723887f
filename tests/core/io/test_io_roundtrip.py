"""Every file format round-trips voxels and world geometry exactly."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk

from tests.helpers.synthetic import grid_affine, probe_world_points, random_volume
from volta_core.io import Volume, load_volume, save_volume
from volta_core.io.itk import volume_to_sitk

SHAPE = (24, 28, 20)


def _write_nibabel(volume: Volume, path: Path) -> None:
    if path.name.endswith((".mgz", ".mgh")):
        nib.save(nib.MGHImage(volume.data, volume.affine), str(path))
    else:
        image = nib.Nifti1Image(volume.data, volume.affine)
        image.header.set_sform(volume.affine, code=1)
        image.header.set_qform(volume.affine, code=1)
        nib.save(image, str(path))


def _write_itk(volume: Volume, path: Path) -> None:
    sitk.WriteImage(volume_to_sitk(volume), str(path))


def _assert_same_scan(loaded: Volume, original: Volume, *, atol_mm: float = 1e-4) -> None:
    assert loaded.shape == original.shape
    np.testing.assert_array_equal(loaded.data, original.data)
    world_error = np.abs(probe_world_points(loaded) - probe_world_points(original)).max()
    assert world_error < atol_mm, f"world positions moved by {world_error} mm"
    assert loaded.orientation == original.orientation


@pytest.mark.parametrize("name,writer,fmt", [
    ("scan.nii", _write_nibabel, "nifti1"),
    ("scan.nii.gz", _write_nibabel, "nifti1"),
    ("scan.mgz", _write_nibabel, "mgz"),
    ("scan.mgh", _write_nibabel, "mgh"),
    ("scan.nrrd", _write_itk, "nrrd"),
    ("scan.nhdr", _write_itk, "nrrd"),
    ("scan.mha", _write_itk, "metaimage"),
    ("scan.mhd", _write_itk, "metaimage"),
])
@pytest.mark.parametrize("geometry", ["lia", "oblique"])
def test_format_round_trip_keeps_voxels_and_world_positions(tmp_path: Path, name: str, writer, fmt: str,
                                                            geometry: str, oblique_affine: np.ndarray) -> None:
    affine = oblique_affine if geometry == "oblique" else grid_affine(SHAPE, axcodes="LIA", spacing=(1.0, 1.3, 0.8))
    original = random_volume(SHAPE, affine, dtype=np.int16, seed=3)
    path = tmp_path / name
    writer(original, path)
    loaded = load_volume(path)
    _assert_same_scan(loaded, original)
    assert loaded.metadata["format"] == fmt
    assert loaded.metadata["original_shape"] == list(SHAPE)
    assert loaded.data.dtype == np.int16
    assert loaded.source == path
    assert loaded.metadata["warnings"] == []
    json.dumps(loaded.metadata)  # metadata must stay JSON-serialisable


def test_nifti_metadata_keeps_header_facts(tmp_path: Path) -> None:
    original = random_volume(SHAPE, grid_affine(SHAPE, axcodes="LAS"), dtype=np.uint8)
    image = nib.Nifti1Image(original.data, original.affine)
    image.header.set_sform(original.affine, code=4)
    image.header.set_qform(original.affine, code=1)
    image.header["descrip"] = b"synthetic T1"
    image.header.set_intent("estimate", name="t1w")
    nib.save(image, str(tmp_path / "scan.nii.gz"))
    meta = load_volume(tmp_path / "scan.nii.gz").metadata
    assert (meta["qform_code"], meta["sform_code"]) == (1, 4)
    assert meta["description"] == "synthetic T1"
    assert meta["intent"]["code"] == "estimate" and meta["intent"]["name"] == "t1w"
    assert meta["dtype"] == "uint8"


def test_voxel_dtype_stays_compact(tmp_path: Path) -> None:
    base = random_volume(SHAPE, dtype=np.uint8)
    for dtype, expected in [(np.uint8, np.uint8), (np.int16, np.int16), (np.float64, np.float32), (np.int64, np.uint8)]:
        image = nib.Nifti1Image(base.data.astype(dtype), base.affine, dtype=dtype)
        nib.save(image, str(tmp_path / f"scan_{np.dtype(dtype).name}.nii"))
        loaded = load_volume(tmp_path / f"scan_{np.dtype(dtype).name}.nii")
        assert loaded.data.dtype == expected, dtype
        np.testing.assert_array_equal(loaded.data, base.data)


def test_scaled_nifti_is_read_as_float32_with_scaling_applied(tmp_path: Path) -> None:
    base = random_volume(SHAPE, dtype=np.int16)
    image = nib.Nifti1Image(base.data, base.affine)
    image.header.set_slope_inter(0.5, 10.0)
    nib.save(image, str(tmp_path / "scaled.nii"))
    loaded = load_volume(tmp_path / "scaled.nii")
    assert loaded.data.dtype == np.float32
    np.testing.assert_allclose(loaded.data, base.data * 0.5 + 10.0, rtol=1e-6)


def test_trailing_singleton_fourth_axis_is_3d(tmp_path: Path) -> None:
    base = random_volume(SHAPE, dtype=np.int16)
    nib.save(nib.Nifti1Image(base.data[..., None], base.affine), str(tmp_path / "scan4d1.nii.gz"))
    loaded = load_volume(tmp_path / "scan4d1.nii.gz")
    assert loaded.shape == SHAPE
    np.testing.assert_array_equal(loaded.data, base.data)


@pytest.mark.parametrize("name", ["series.nii.gz", "series.nrrd"])
def test_volume_index_picks_one_volume_of_a_4d_series(tmp_path: Path, name: str) -> None:
    rng = np.random.default_rng(0)
    series = rng.integers(0, 1000, SHAPE + (3,)).astype(np.int16)
    affine = grid_affine(SHAPE, axcodes="RAS")
    path = tmp_path / name
    if name.endswith(".nii.gz"):
        nib.save(nib.Nifti1Image(series, affine), str(path))
    else:
        image = sitk.JoinSeries([volume_to_sitk(Volume(series[..., t], affine)) for t in range(3)])
        sitk.WriteImage(image, str(path))
    loaded = load_volume(path, volume_index=2)
    np.testing.assert_array_equal(loaded.data, series[..., 2])
    assert np.allclose(loaded.affine, affine, atol=1e-6)
    assert loaded.metadata["volume_index"] == 2 and loaded.metadata["n_volumes"] == 3


def test_save_volume_round_trip_is_exact(tmp_path: Path, oblique_volume: Volume) -> None:
    path = save_volume(oblique_volume, tmp_path / "copy.nii.gz")
    loaded = load_volume(path)
    _assert_same_scan(loaded, oblique_volume)
    assert (loaded.metadata["qform_code"], loaded.metadata["sform_code"]) == (1, 1)
    assert list(tmp_path.iterdir()) == [path], "no temporary files may be left behind"


@pytest.mark.parametrize("suffix", [".nrrd", ".mha"])
def test_itk_formats_agree_with_nibabel_on_the_same_image(tmp_path: Path, oblique_volume: Volume,
                                                          suffix: str) -> None:
    """Independent of our LPS<->RAS code: nibabel writes a NIfTI, ITK converts it to NRRD/MHA with
    its own NIfTI reader, and both files must load onto identical world positions."""
    nifti = tmp_path / "scan.nii.gz"
    _write_nibabel(oblique_volume, nifti)
    converted = tmp_path / f"scan{suffix}"
    sitk.WriteImage(sitk.ReadImage(str(nifti)), str(converted))
    _assert_same_scan(load_volume(converted), load_volume(nifti), atol_mm=1e-3)
