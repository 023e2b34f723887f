"""Every kind of bad input becomes a typed error with a message and a hint."""

from __future__ import annotations

import builtins
import gzip
import struct
import zlib
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk

from tests.helpers.dicom_series import write_dicom_series
from tests.helpers.synthetic import grid_affine, random_volume
from volta_core.io import (
    CorruptFileError,
    FileAccessError,
    MultiVolumeError,
    NonFiniteVoxelsError,
    NotAVolumeError,
    UnsupportedFormatError,
    Volume,
    VolumeReadError,
    VolumeTooLargeError,
    load_volume,
)
from volta_core.io.itk import volume_to_sitk

SHAPE = (24, 28, 20)


def _raises(error_type: type[VolumeReadError], path: Path, **kwargs) -> VolumeReadError:
    with pytest.raises(error_type) as caught:
        load_volume(path, **kwargs)
    error = caught.value
    assert type(error) is error_type, f"expected {error_type.__name__}, got {type(error).__name__}: {error}"
    assert error.message.strip() and error.hint.strip()
    return error


def _nifti_gz(tmp_path: Path, name: str = "scan.nii.gz") -> Path:
    volume = random_volume(SHAPE, dtype=np.int16)
    path = tmp_path / name
    nib.save(nib.Nifti1Image(volume.data, volume.affine), str(path))
    return path


def _png_bytes() -> bytes:
    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
    rows = b"".join(b"\x00" + bytes(range(8)) for _ in range(8))  # 8x8 greyscale
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


# --- damaged files ------------------------------------------------------------------------------

def test_truncated_gzip_nifti_is_corrupt(tmp_path: Path) -> None:
    path = _nifti_gz(tmp_path)
    blob = path.read_bytes()
    path.write_bytes(blob[: len(blob) // 2])
    _raises(CorruptFileError, path)


def test_gzip_with_damaged_bytes_is_corrupt(tmp_path: Path) -> None:
    path = _nifti_gz(tmp_path)
    blob = bytearray(path.read_bytes())
    middle = len(blob) // 2
    blob[middle:middle + 64] = bytes(64)
    path.write_bytes(bytes(blob))
    _raises(CorruptFileError, path)


def test_truncated_mgz_is_corrupt(tmp_path: Path) -> None:
    volume = random_volume(SHAPE, dtype=np.uint8)
    path = tmp_path / "scan.mgz"
    nib.save(nib.MGHImage(volume.data, volume.affine), str(path))
    path.write_bytes(path.read_bytes()[:400])
    _raises(CorruptFileError, path)


def test_truncated_uncompressed_nifti_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "scan.nii"
    volume = random_volume(SHAPE, dtype=np.int16)
    nib.save(nib.Nifti1Image(volume.data, volume.affine), str(path))
    path.write_bytes(path.read_bytes()[:2000])
    _raises(CorruptFileError, path)


def test_metaimage_with_missing_data_file_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "scan.mhd"
    sitk.WriteImage(volume_to_sitk(random_volume(SHAPE)), str(path))
    for raw in tmp_path.glob("*.raw"):
        raw.unlink()
    _raises(CorruptFileError, path)


def test_empty_file_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "scan.nii.gz"
    path.write_bytes(b"")
    _raises(CorruptFileError, path)


def test_binary_garbage_named_nifti_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "scan.nii"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes().replace(b"\x00", b"\x01") + b"\x00")
    _raises(CorruptFileError, path)


# --- not images ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["notes.txt", "scan.nii", "scan.nrrd", "scan.mha"])
def test_text_file_is_unsupported(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text("Patient notes: scanned on Tuesday, see attached report.\n" * 5)
    error = _raises(UnsupportedFormatError, path)
    assert "text" in error.message


@pytest.mark.parametrize("name", ["slice.png", "scan.nii.gz"])
def test_png_picture_is_unsupported(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(_png_bytes())
    error = _raises(UnsupportedFormatError, path)
    assert "PNG" in error.message


def test_jpeg_picture_is_unsupported(tmp_path: Path) -> None:
    path = tmp_path / "photo.jpg"
    path.write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + bytes(200) + b"\xff\xd9")
    error = _raises(UnsupportedFormatError, path)
    assert "JPEG" in error.message


def test_folder_without_dicom_files_is_unsupported(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("nothing here")
    _raises(UnsupportedFormatError, tmp_path)


def test_gzipped_mgz_with_a_complex_voxel_type_is_unsupported(tmp_path: Path) -> None:
    path = tmp_path / "complex.nii.gz"
    data = np.ones(SHAPE, dtype=np.complex64)
    nib.save(nib.Nifti1Image(data, np.eye(4)), str(path))
    _raises(UnsupportedFormatError, path)


# --- wrong dimensionality -----------------------------------------------------------------------

def test_2d_nifti_is_not_a_volume(tmp_path: Path) -> None:
    path = tmp_path / "slice.nii.gz"
    nib.save(nib.Nifti1Image(np.ones((24, 28), dtype=np.int16), np.eye(4)), str(path))
    _raises(NotAVolumeError, path)


def test_single_slice_3d_nrrd_is_not_a_volume(tmp_path: Path) -> None:
    path = tmp_path / "slice.nrrd"
    sitk.WriteImage(volume_to_sitk(Volume(np.ones((24, 28, 1), dtype=np.int16), np.eye(4))), str(path))
    _raises(NotAVolumeError, path)


def test_2d_mha_is_not_a_volume(tmp_path: Path) -> None:
    path = tmp_path / "slice.mha"
    sitk.WriteImage(sitk.GetImageFromArray(np.ones((28, 24), dtype=np.int16)), str(path))
    _raises(NotAVolumeError, path)


def test_zero_length_axis_is_not_a_volume(tmp_path: Path) -> None:
    path = tmp_path / "empty_axis.nii"
    header = nib.Nifti1Header()
    header.set_data_shape((24, 0, 20))
    header.set_data_dtype(np.int16)
    path.write_bytes(header.binaryblock + b"\x00" * 4)  # header + 4-byte extension flag, no voxels
    _raises(NotAVolumeError, path)


@pytest.mark.parametrize("name", ["bold.nii.gz", "dwi.nrrd"])
def test_4d_series_needs_a_volume_index(tmp_path: Path, name: str) -> None:
    series = np.random.default_rng(0).integers(0, 100, SHAPE + (5,)).astype(np.int16)
    path = tmp_path / name
    if name.endswith(".nii.gz"):
        nib.save(nib.Nifti1Image(series, np.eye(4)), str(path))
    else:
        sitk.WriteImage(sitk.JoinSeries([volume_to_sitk(Volume(series[..., t], np.eye(4))) for t in range(5)]), str(path))
    error = _raises(MultiVolumeError, path)
    assert error.n_volumes == 5


def test_volume_index_out_of_range(tmp_path: Path) -> None:
    path = tmp_path / "bold.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros(SHAPE + (3,), dtype=np.int16), np.eye(4)), str(path))
    _raises(UnsupportedFormatError, path, volume_index=3)


# --- voxel values -------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_voxels_are_refused(tmp_path: Path, bad: float) -> None:
    data = random_volume(SHAPE, dtype=np.float32).data
    data[3, 4, 5] = bad
    data[10, 1, 2] = bad
    path = tmp_path / "scan.nii.gz"
    nib.save(nib.Nifti1Image(data, np.eye(4)), str(path))
    error = _raises(NonFiniteVoxelsError, path)
    assert error.n_nonfinite == 2


def test_non_finite_voxels_can_be_zeroed_with_a_warning(tmp_path: Path) -> None:
    data = random_volume(SHAPE, dtype=np.float32).data
    data[3, 4, 5] = np.nan
    data[0, 0, 0] = np.inf
    path = tmp_path / "scan.mha"
    sitk.WriteImage(volume_to_sitk(Volume(data, np.eye(4))), str(path))
    loaded = load_volume(path, nonfinite="zero")
    assert loaded.data[3, 4, 5] == 0 and loaded.data[0, 0, 0] == 0
    assert np.isfinite(loaded.data).all()
    assert loaded.metadata["warnings"] and "2" in loaded.metadata["warnings"][0]


def test_invalid_nonfinite_policy_is_a_programming_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        load_volume(_nifti_gz(tmp_path), nonfinite="ignore")  # type: ignore[arg-type]


# --- absurd sizes: refused from the header, before any voxel is read ----------------------------

def test_huge_nifti_header_is_refused_before_reading(tmp_path: Path) -> None:
    header = nib.Nifti1Header()
    header.set_data_shape((5000, 5000, 5000))
    header.set_data_dtype(np.uint8)
    path = tmp_path / "huge.nii"
    path.write_bytes(header.binaryblock + b"\x00" * 4)  # no voxel data at all: reading it would fail
    _raises(VolumeTooLargeError, path)


def test_huge_gzipped_nifti_header_is_refused_before_reading(tmp_path: Path) -> None:
    header = nib.Nifti1Header()
    header.set_data_shape((5000, 5000, 5000))
    header.set_data_dtype(np.float32)
    path = tmp_path / "huge.nii.gz"
    path.write_bytes(gzip.compress(header.binaryblock + b"\x00" * 4))
    _raises(VolumeTooLargeError, path)


@pytest.mark.parametrize("name", ["huge.mgh", "huge.mgz"])
def test_huge_mgh_header_is_refused_before_reading(tmp_path: Path, name: str) -> None:
    small = tmp_path / "small.mgh"
    nib.save(nib.MGHImage(np.zeros((4, 4, 4), dtype=np.uint8), np.eye(4)), str(small))
    blob = bytearray(small.read_bytes())
    blob[4:16] = struct.pack(">iii", 4000, 4000, 4000)  # width, height, depth (big-endian int32)
    blob = bytes(blob[:284 + 64])  # header and a few voxels: far less than declared
    (tmp_path / name).write_bytes(gzip.compress(blob) if name.endswith(".mgz") else blob)
    _raises(VolumeTooLargeError, tmp_path / name)


@pytest.mark.parametrize("name,header", [
    ("huge.nrrd", "NRRD0004\ntype: uint8\ndimension: 3\nsizes: 5000 5000 5000\nencoding: raw\n\n"),
    ("huge.mha", "ObjectType = Image\nNDims = 3\nDimSize = 5000 5000 5000\nElementType = MET_UCHAR\n"
                 "ElementDataFile = LOCAL\n"),
])
def test_huge_itk_header_is_refused_before_reading(tmp_path: Path, name: str, header: str) -> None:
    path = tmp_path / name
    path.write_bytes(header.encode() + bytes(100))
    _raises(VolumeTooLargeError, path)


def test_max_voxels_applies_to_dicom_series_headers(tmp_path: Path) -> None:
    write_dicom_series(random_volume(SHAPE, grid_affine(SHAPE, axcodes="LPS")), tmp_path / "series")
    _raises(VolumeTooLargeError, tmp_path / "series", max_voxels=1000)


def test_max_voxels_is_configurable(tmp_path: Path) -> None:
    path = _nifti_gz(tmp_path)
    _raises(VolumeTooLargeError, path, max_voxels=1000)
    assert load_volume(path, max_voxels=SHAPE[0] * SHAPE[1] * SHAPE[2]).shape == SHAPE


# --- access -------------------------------------------------------------------------------------

def test_missing_path_is_a_file_access_error(tmp_path: Path) -> None:
    _raises(FileAccessError, tmp_path / "nowhere" / "scan.nii.gz")


def test_folder_where_a_file_is_expected_is_a_file_access_error(tmp_path: Path) -> None:
    (tmp_path / "scan.nii.gz").mkdir()
    _raises(FileAccessError, tmp_path / "scan.nii.gz")


def test_unreadable_file_is_a_file_access_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests run as root, which ignores chmod 000; so opening this one path raises PermissionError
    # exactly as it would for a normal user without read permission. Nothing else is patched.
    path = _nifti_gz(tmp_path)
    real_open = builtins.open

    def open_without_permission(file, *args, **kwargs):
        if Path(str(file)) == path:
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", open_without_permission)
    error = _raises(FileAccessError, path)
    assert "permission" in error.message.lower()


def test_garbage_dcm_file_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "IM0001.dcm"
    path.write_bytes(bytes(range(1, 256)) * 10)
    _raises(CorruptFileError, path)


def test_truncated_slice_in_a_dicom_series_is_reported(tmp_path: Path) -> None:
    from volta_core.io import DicomSeriesError

    files = write_dicom_series(random_volume(SHAPE, grid_affine(SHAPE, axcodes="LPS")), tmp_path / "series")
    blob = files[5].read_bytes()
    files[5].write_bytes(blob[: len(blob) // 2])
    _raises(DicomSeriesError, tmp_path / "series")


def test_truncated_compressed_nrrd_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "scan.nrrd"
    writer = sitk.ImageFileWriter()
    writer.SetFileName(str(path))
    writer.UseCompressionOn()
    writer.Execute(volume_to_sitk(random_volume(SHAPE)))
    path.write_bytes(path.read_bytes()[:-3000])
    _raises(CorruptFileError, path)
