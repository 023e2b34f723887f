"""Masks and volumes written as NIfTI on the reference scan's exact grid, atomically."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from tests.helpers.synthetic import grid_affine, make_synthetic_head
from volta_core.io import Volume, VolumeWriteError, load_volume, save_mask, save_volume

SHAPE = (24, 28, 20)


def _mask_for(volume: Volume) -> np.ndarray:
    mask = np.zeros(volume.shape, dtype=np.uint8)
    mask[3:9, 5:12, 4:7] = 17
    mask[14:20, 5:12, 4:7] = 53
    mask[0, 0, 0] = 1
    return mask


@pytest.mark.parametrize("name", ["mask.nii.gz", "mask.nii"])
def test_mask_reads_back_on_the_reference_grid(tmp_path: Path, oblique_affine: np.ndarray, name: str) -> None:
    reference = make_synthetic_head(SHAPE, oblique_affine)
    mask = _mask_for(reference)
    path = save_mask(mask, reference, tmp_path / name, labels={17: "Left-Hippocampus", 53: "Right-Hippocampus"})
    loaded = load_volume(path)
    assert loaded.shape == reference.shape
    np.testing.assert_allclose(loaded.affine, reference.affine, atol=1e-5)
    assert loaded.data.dtype == np.uint8
    np.testing.assert_array_equal(loaded.data, mask)
    assert loaded.metadata["labels"] == {17: "Left-Hippocampus", 53: "Right-Hippocampus"}
    assert loaded.metadata["intent"]["code"] == "label"
    header = nib.load(str(path)).header
    assert int(header["qform_code"]) == 1 and int(header["sform_code"]) == 1
    np.testing.assert_allclose(header.get_qform(), reference.affine, atol=1e-4)
    np.testing.assert_allclose(header.get_sform(), reference.affine, atol=1e-5)


def test_mask_keeps_the_reference_nifti_codes(tmp_path: Path) -> None:
    affine = grid_affine(SHAPE, axcodes="LAS")
    image = nib.Nifti1Image(np.zeros(SHAPE, dtype=np.int16), affine)
    image.header.set_qform(affine, code=1)
    image.header.set_sform(affine, code=2)
    nib.save(image, str(tmp_path / "ref.nii.gz"))
    reference = load_volume(tmp_path / "ref.nii.gz")
    save_mask(np.ones(SHAPE, dtype=bool), reference, tmp_path / "mask.nii.gz")
    header = nib.load(str(tmp_path / "mask.nii.gz")).header
    assert (int(header["qform_code"]), int(header["sform_code"])) == (1, 2)


def test_mask_from_an_mgz_reference_keeps_lia_geometry(tmp_path: Path) -> None:
    reference = make_synthetic_head(SHAPE, grid_affine(SHAPE, axcodes="LIA"), dtype=np.uint8)
    nib.save(nib.MGHImage(reference.data, reference.affine), str(tmp_path / "ref.mgz"))
    loaded_reference = load_volume(tmp_path / "ref.mgz")
    save_mask(_mask_for(loaded_reference), loaded_reference, tmp_path / "mask.nii.gz")
    mask = load_volume(tmp_path / "mask.nii.gz")
    assert mask.same_grid(loaded_reference, atol=1e-5)
    assert mask.orientation == ("L", "I", "A")


@pytest.mark.parametrize("bad", [
    np.zeros((24, 28, 19), dtype=np.uint8),          # wrong shape
    np.full(SHAPE, 300, dtype=np.int32),             # beyond uint8
    np.full(SHAPE, -1, dtype=np.int16),              # negative
    np.full(SHAPE, 0.5, dtype=np.float32),           # fractional
])
def test_invalid_masks_are_refused(tmp_path: Path, bad: np.ndarray) -> None:
    reference = make_synthetic_head(SHAPE)
    with pytest.raises(ValueError):
        save_mask(bad, reference, tmp_path / "mask.nii.gz")
    assert not list(tmp_path.iterdir())


def test_writing_into_a_missing_folder_is_a_write_error(tmp_path: Path) -> None:
    reference = make_synthetic_head(SHAPE)
    with pytest.raises(VolumeWriteError) as caught:
        save_mask(_mask_for(reference), reference, tmp_path / "no" / "such" / "mask.nii.gz")
    assert caught.value.message and caught.value.hint


def test_writing_below_a_file_is_a_write_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(VolumeWriteError):
        save_volume(make_synthetic_head(SHAPE), tmp_path / "file" / "scan.nii.gz")


def test_failed_write_keeps_the_previous_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    reference = make_synthetic_head(SHAPE)
    target = save_mask(_mask_for(reference), reference, tmp_path / "mask.nii.gz")
    before = target.read_bytes()
    broken = Volume(np.full(SHAPE, None, dtype=object), reference.affine)  # nibabel cannot store objects
    with pytest.raises(Exception):
        save_volume(broken, target)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["mask.nii.gz"]


def test_non_nifti_destination_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        save_volume(make_synthetic_head(SHAPE), tmp_path / "scan.png")


def test_save_volume_stores_float64_as_float32(tmp_path: Path) -> None:
    volume = make_synthetic_head(SHAPE)
    volume = volume.with_data(volume.data.astype(np.float64))
    loaded = load_volume(save_volume(volume, tmp_path / "scan.nii"))
    assert nib.load(str(tmp_path / "scan.nii")).get_data_dtype() == np.float32
    np.testing.assert_array_equal(loaded.data, volume.data.astype(np.float32))
