"""Write a :class:`Volume` as a DICOM MR series, one file per slice, with pydicom.

Geometry follows the standard: ImagePositionPatient (IPP) and ImageOrientationPatient (IOP) in
LPS mm; PixelSpacing = (distance between rows, distance between columns). Storage axis ``i`` of
the volume becomes the column index, ``j`` the row index and ``k`` the slice, so reading the
series back must reproduce the volume's affine.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid
from pydicom.valuerep import format_number_as_ds

from volta_core.io import Volume

_LPS = np.diag([-1.0, -1.0, 1.0])


def _ds(values: np.ndarray | list[float]) -> list[str]:
    return [format_number_as_ds(float(v)) for v in values]


def write_dicom_series(volume: Volume, folder: str | Path, *, series_uid: str | None = None,
                       study_uid: str | None = None, description: str = "T1 MPRAGE",
                       prefix: str = "slice", patient_name: str = "Doe^Jane",
                       patient_id: str = "PID-0001", birth_date: str = "19700101") -> list[Path]:
    """Write ``volume`` (integer voxels within int16) as one DICOM file per slice along ``k``.

    Args:
        volume: the scan; its affine may be oblique and anisotropic.
        folder: destination (created if needed).
        series_uid, study_uid: UIDs; generated when not given.
        description: SeriesDescription.
        prefix: file name prefix (use different prefixes for several series in one folder).
        patient_name, patient_id, birth_date: identifiers written into every slice.

    Returns:
        The written files, in slice order.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    data = np.asarray(volume.data)
    if data.dtype.kind == "f" and not np.array_equal(data, np.round(data)):
        raise ValueError("write_dicom_series stores integers: round the volume first")
    if data.min() < -32768 or data.max() > 32767:
        raise ValueError("voxels must fit in int16")
    series_uid = series_uid or generate_uid()
    study_uid = study_uid or generate_uid()
    frame_uid = generate_uid()
    affine = volume.affine
    spacing = np.linalg.norm(affine[:3, :3], axis=0)
    row_cosine = _LPS @ affine[:3, 0] / spacing[0]      # direction of increasing column index
    column_cosine = _LPS @ affine[:3, 1] / spacing[1]   # direction of increasing row index
    paths: list[Path] = []
    for k in range(data.shape[2]):
        position = _LPS @ (affine[:3, 3] + k * affine[:3, 2])
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = MRImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        path = folder / f"{prefix}_{k:04d}.dcm"
        ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\x00" * 128)
        ds.SOPClassUID = MRImageStorage
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.FrameOfReferenceUID = frame_uid
        ds.Modality = "MR"
        ds.SeriesDescription = description
        ds.ProtocolName = description
        ds.SeriesNumber = 1
        ds.InstanceNumber = k + 1
        ds.PatientName = patient_name
        ds.PatientID = patient_id
        ds.PatientBirthDate = birth_date
        ds.PatientSex = "F"
        ds.StudyDate = "20240102"
        ds.ImagePositionPatient = _ds(position)
        ds.ImageOrientationPatient = _ds(np.concatenate([row_cosine, column_cosine]))
        ds.PixelSpacing = _ds([spacing[1], spacing[0]])  # (between rows, between columns)
        ds.SliceThickness = format_number_as_ds(float(spacing[2]))
        ds.SpacingBetweenSlices = format_number_as_ds(float(spacing[2]))
        ds.Rows, ds.Columns = data.shape[1], data.shape[0]
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated = 16
        ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 1
        ds.RescaleIntercept = "0"
        ds.RescaleSlope = "1"
        ds.PixelData = np.ascontiguousarray(data[:, :, k].T.astype("<i2")).tobytes()  # (rows, columns)
        ds.save_as(str(path), enforce_file_format=True)
        paths.append(path)
    return paths


def set_position(path: Path, position_lps: np.ndarray) -> None:
    """Overwrite one slice's ImagePositionPatient (to fake duplicated or irregular slices)."""
    ds = pydicom.dcmread(str(path))
    ds.ImagePositionPatient = _ds(position_lps)
    ds.save_as(str(path), enforce_file_format=True)


def get_position(path: Path) -> np.ndarray:
    """A slice's ImagePositionPatient (LPS mm)."""
    return np.array([float(v) for v in pydicom.dcmread(str(path), stop_before_pixels=True).ImagePositionPatient])
