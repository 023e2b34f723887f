"""DICOM series: list the series in a folder, check one for completeness, read it.

Slices are found and grouped with GDCM (through SimpleITK), checked here from their headers
(orientation, position along the slice normal, size) before any pixel data is read, then read
with SimpleITK's series reader in the order checked here. The affine comes from the headers
(ImageOrientationPatient, PixelSpacing, ImagePositionPatient of the first and last slice), so
oblique, anisotropic and gantry-tilted stacks keep their exact geometry.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from volta_core.io.checks import select_volume
from volta_core.io.errors import (
    CorruptFileError,
    DicomSeriesError,
    FileAccessError,
    MultipleSeriesError,
    SeriesInfo,
    UnsupportedFormatError,
    VolumeTooLargeError,
)
from volta_core.io.itk import LPS_TO_RAS, _itk_reason, affine_from_itk
from volta_core.io.lazy_sitk import sitk

_DICOM_FIELDS = {
    "0020|000e": "series_uid", "0020|000d": "study_uid", "0008|103e": "series_description",
    "0008|1030": "study_description", "0008|0060": "modality", "0018|1030": "protocol_name",
    "0008|0070": "manufacturer", "0008|1090": "model_name", "0018|0087": "field_strength",
    "0018|0024": "sequence_name", "0018|0080": "repetition_time", "0018|0081": "echo_time",
    "0018|0082": "inversion_time", "0018|1314": "flip_angle", "0018|0050": "slice_thickness",
    "0018|0088": "spacing_between_slices", "0020|0011": "series_number", "0008|0008": "image_type",
    "0018|0015": "body_part", "0008|0016": "sop_class_uid",
}
# Identifying facts: only ever under metadata["patient"], so exports can drop them in one step.
_PATIENT_FIELDS = {
    "0010|0010": "name", "0010|0020": "id", "0010|0030": "birth_date", "0010|0040": "sex",
    "0010|1010": "age", "0010|1020": "size", "0010|1030": "weight", "0010|1000": "other_ids",
    "0008|0020": "study_date", "0008|0021": "series_date", "0008|0030": "study_time",
    "0008|0050": "accession_number", "0008|0080": "institution_name", "0008|0081": "institution_address",
    "0008|0090": "referring_physician",
}


def read_tags(path: Path) -> dict[str, str]:
    """Header elements of one DICOM file (``'gggg|eeee' -> value``), without pixel data.

    Raises:
        CorruptFileError: the file is not readable as DICOM.
    """
    reader = _header_reader(path)
    return {key: reader.GetMetaData(key).strip() for key in reader.GetMetaDataKeys()}


def _header_reader(path: Path) -> sitk.ImageFileReader:
    """A GDCM reader that has read ``path``'s header (not its pixels).

    Raises:
        CorruptFileError: the file is not readable as DICOM.
    """
    reader = sitk.ImageFileReader()
    reader.SetImageIO("GDCMImageIO")
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError as exc:
        raise CorruptFileError(f"'{path.name}' is not a readable DICOM file ({_itk_reason(exc)}).", path=path) from exc
    return reader


def list_dicom_series(folder: str | Path) -> list[SeriesInfo]:
    """The DICOM series in ``folder`` (not its sub-folders), sorted by description.

    Raises:
        FileAccessError: the folder is missing or not a folder.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileAccessError(f"'{folder}' is not a folder.", path=folder)
    try:
        uids = sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(folder))
    except RuntimeError as exc:
        raise FileAccessError(f"The folder '{folder}' cannot be scanned ({_itk_reason(exc)}).", path=folder) from exc
    series: list[SeriesInfo] = []
    for uid in uids:
        try:
            files = tuple(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder), uid))
        except RuntimeError as exc:
            raise CorruptFileError(f"Series {uid} in '{folder}' cannot be listed ({_itk_reason(exc)}).",
                                   path=folder) from exc
        if not files:
            continue
        tags = read_tags(Path(files[0]))
        series.append(SeriesInfo(
            uid=uid,
            description=tags.get("0008|103e", ""),
            n_slices=len(files),
            size=(_int(tags.get("0028|0010")), _int(tags.get("0028|0011"))),
            modality=tags.get("0008|0060", ""),
            files=files,
        ))
    return sorted(series, key=lambda s: (s.description, s.uid))


def read_dicom(path: Path, *, series_uid: str | None, max_voxels: int,
               ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Read one DICOM series from a folder, or the series a single slice file belongs to.

    Args:
        path: a folder of DICOM files, or one file of the series.
        series_uid: the SeriesInstanceUID to open when the folder holds several series.
        max_voxels: refuse series larger than this, checked from the headers.

    Returns:
        ``(data (columns, rows, slices), affine voxel->RAS+ mm, metadata)``.

    Raises:
        MultipleSeriesError: several series and no ``series_uid`` (lists them all).
        DicomSeriesError: missing, duplicated or irregularly spaced slices; mixed slice sizes or
            orientations; an unknown ``series_uid``.
        UnsupportedFormatError: no DICOM series in the folder.
        CorruptFileError, NotAVolumeError, VolumeTooLargeError.
    """
    folder = path if path.is_dir() else path.parent
    if series_uid is None and not path.is_dir():
        series_uid = read_tags(path).get("0020|000e") or None
    series = list_dicom_series(folder)
    if not series:
        raise UnsupportedFormatError(
            f"No DICOM images were found in '{folder}'.", path=folder,
            hint="Open the folder that holds the .dcm files of one series, or a NIfTI/MGZ/NRRD file.")
    if series_uid is not None:
        chosen = [s for s in series if s.uid == series_uid]
        if not chosen:
            raise DicomSeriesError(f"Series {series_uid} is not in '{folder}'.", path=folder,
                                   hint="Choose one of the series listed in the folder.")
        info = chosen[0]
    elif len(series) == 1:
        info = series[0]
    else:
        listing = "; ".join(s.label() for s in series)
        raise MultipleSeriesError(f"'{folder.name}' holds {len(series)} DICOM series: {listing}.",
                                  series=series, path=folder)
    if info.n_slices == 1:
        return _read_single_file(Path(info.files[0]), max_voxels=max_voxels)
    return _read_stack(folder, info, max_voxels=max_voxels)


def _read_stack(folder: Path, info: SeriesInfo, *, max_voxels: int,
                ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    files = [Path(f) for f in info.files]
    all_tags = [read_tags(f) for f in files]
    first = all_tags[0]
    sizes = {(_int(t.get("0028|0010")), _int(t.get("0028|0011"))) for t in all_tags}
    if len(sizes) > 1:
        raise DicomSeriesError(f"Series '{info.description}' mixes slices of different sizes {sorted(sizes)}.",
                               path=folder)
    rows, columns = sizes.pop()
    n_voxels = rows * columns * len(files)
    if n_voxels > max_voxels:
        raise VolumeTooLargeError(
            f"Series '{info.description}' has {n_voxels:,} voxels, more than the limit of {max_voxels:,}.", path=folder)
    select_volume((columns, rows, len(files)), path=folder, volume_index=None, max_voxels=max_voxels)
    orientations = np.array([_floats(t, "0020|0037", 6, f) for t, f in zip(all_tags, files)])
    if np.abs(orientations - orientations[0]).max() > 1e-4:
        raise DicomSeriesError(f"Series '{info.description}' mixes slices with different orientations.", path=folder)
    row_cosine, column_cosine = orientations[0][:3], orientations[0][3:]
    normal = np.cross(row_cosine, column_cosine)
    positions = np.array([_floats(t, "0020|0032", 3, f) for t, f in zip(all_tags, files)])  # (n, 3) LPS
    order = np.argsort(positions @ normal, kind="stable")
    positions = positions[order]
    files = [files[i] for i in order]
    _check_spacing(positions, normal, files, folder, info.description)
    pixel_spacing = _floats(first, "0028|0030", 2, files[0])  # (between rows, between columns)
    step = (positions[-1] - positions[0]) / (len(files) - 1)
    lps = np.eye(4)
    lps[:3, 0] = row_cosine * pixel_spacing[1]
    lps[:3, 1] = column_cosine * pixel_spacing[0]
    lps[:3, 2] = step
    lps[:3, 3] = positions[0]
    affine = np.eye(4)
    affine[:3] = LPS_TO_RAS @ lps[:3]
    reader = sitk.ImageSeriesReader()
    reader.SetImageIO("GDCMImageIO")
    reader.SetFileNames([str(f) for f in files])
    try:
        image = reader.Execute()
    except RuntimeError as exc:
        raise CorruptFileError(f"The pixel data of series '{info.description}' could not be read "
                               f"({_itk_reason(exc)}).", path=folder) from exc
    data = sitk.GetArrayFromImage(image).transpose(2, 1, 0)  # (columns, rows, slices)
    if data.shape != (columns, rows, len(files)):
        raise DicomSeriesError(f"Series '{info.description}' decoded to shape {data.shape}, "
                               f"expected {(columns, rows, len(files))}.", path=folder)
    return data, affine, _metadata(first, data, info)


def _check_spacing(positions: np.ndarray, normal: np.ndarray, files: list[Path], folder: Path,
                   description: str) -> None:
    """Refuse duplicated, missing and irregularly spaced slices (positions sorted along ``normal``)."""
    along = positions @ normal
    gaps = np.diff(along)
    step = float(np.median(gaps))
    label = f"Series '{description}'"
    duplicate = np.flatnonzero(gaps < max(1e-3, 0.01 * abs(step)))
    if duplicate.size:
        i = int(duplicate[0])
        raise DicomSeriesError(
            f"{label} has two slices at the same position ({along[i]:.2f} mm along the slice normal): "
            f"'{files[i].name}' and '{files[i + 1].name}'.", path=folder,
            hint="The folder may mix two acquisitions or hold a copied slice: export the series again.")
    tolerance = max(0.01, 0.01 * step)
    missing = np.flatnonzero(gaps > 1.5 * step)
    if missing.size:
        i = int(missing[0])
        n_missing = int(round(gaps[i] / step)) - 1
        raise DicomSeriesError(
            f"{label} is incomplete: about {max(n_missing, 1)} slice(s) missing between {along[i]:.2f} mm and "
            f"{along[i + 1]:.2f} mm along the slice normal (after '{files[i].name}').", path=folder,
            hint="Export the complete series again. If no file is missing, one may be damaged and unreadable.")
    if np.abs(gaps - step).max() > tolerance:
        raise DicomSeriesError(
            f"{label} has irregular slice spacing ({gaps.min():.3f} to {gaps.max():.3f} mm between slices).",
            path=folder)
    expected = positions[0] + np.outer(np.arange(len(positions)), (positions[-1] - positions[0]) / (len(positions) - 1))
    if np.linalg.norm(positions - expected, axis=1).max() > tolerance:
        raise DicomSeriesError(f"{label}: slice positions do not lie on one straight line.", path=folder)


def _read_single_file(path: Path, *, max_voxels: int) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """A series of one file: a 3D multi-frame image is accepted, a single 2D slice is not."""
    reader = _header_reader(path)
    size = tuple(int(s) for s in reader.GetSize())
    select_volume(size, path=path, volume_index=None, max_voxels=max_voxels)
    try:
        image = reader.Execute()
    except RuntimeError as exc:
        raise CorruptFileError(f"The pixel data of '{path.name}' could not be read ({_itk_reason(exc)}).",
                               path=path) from exc
    data = sitk.GetArrayFromImage(image).transpose(2, 1, 0)
    direction = np.asarray(image.GetDirection()).reshape(3, 3)
    affine = affine_from_itk(direction, np.asarray(image.GetSpacing()), np.asarray(image.GetOrigin()))
    tags = {key: reader.GetMetaData(key).strip() for key in reader.GetMetaDataKeys()}
    info = SeriesInfo(uid=tags.get("0020|000e", ""), description=tags.get("0008|103e", ""), n_slices=1,
                      size=(size[1], size[0]), modality=tags.get("0008|0060", ""), files=(str(path),))
    return data, affine, _metadata(tags, data, info)


def _metadata(tags: dict[str, str], data: np.ndarray, info: SeriesInfo) -> dict[str, Any]:
    dicom = {name: tags[key] for key, name in _DICOM_FIELDS.items() if tags.get(key)}
    patient = {name: tags[key] for key, name in _PATIENT_FIELDS.items() if tags.get(key)}
    return {
        "format": "dicom",
        "dtype": str(data.dtype),
        "original_shape": [int(s) for s in data.shape],
        "n_volumes": 1,
        "n_files": info.n_slices,
        "dicom": dicom,
        "patient": patient,
    }


def _floats(tags: dict[str, str], key: str, count: int, path: Path) -> np.ndarray:
    try:
        values = np.array([float(v) for v in tags[key].split("\\")], dtype=np.float64)
    except (KeyError, ValueError) as exc:
        raise DicomSeriesError(f"'{path.name}' lacks a valid {key} element, needed to place the slice.",
                               path=path) from exc
    if values.size != count:
        raise DicomSeriesError(f"'{path.name}' has a malformed {key} element.", path=path)
    return values


def _int(value: str | None) -> int:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return 0
