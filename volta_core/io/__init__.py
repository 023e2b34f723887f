"""Reading and writing scans. Imports without torch: opening a scan never pays for it.

Public API (implemented in the submodules):

- ``load_volume(path, *, series_uid=None, volume_index=None, nonfinite="error") -> Volume``
- ``list_dicom_series(folder) -> list[SeriesInfo]``
- ``save_volume(volume, path)`` and ``save_mask(mask, reference, path)``: NIfTI on the
  reference scan's exact grid.
- ``canonical_ras(volume) -> Volume``: the same image on a RAS-aligned grid (exact axis
  permutation/flip for non-oblique scans, trilinear resampling for oblique ones), used for display.
- ``SUPPORTED_SUFFIXES``, ``is_supported(path)``, ``FILE_DIALOG_FILTER`` (for Qt file dialogs).
- ``resource_path(relative)`` and ``sample_scan_path()``: bundled files, in a checkout or a
  PyInstaller bundle.
"""

from __future__ import annotations

from volta_core.io.errors import (
    CorruptFileError,
    DicomSeriesError,
    FileAccessError,
    MultipleSeriesError,
    MultiVolumeError,
    NonFiniteVoxelsError,
    NotAVolumeError,
    SeriesInfo,
    UnsupportedFormatError,
    VolumeReadError,
    VolumeTooLargeError,
    VolumeWriteError,
)
from volta_core.io.canonical import canonical_ras
from volta_core.io.dicom import list_dicom_series
from volta_core.io.formats import FILE_DIALOG_FILTER, SUPPORTED_SUFFIXES, is_supported
from volta_core.io.loader import load_volume
from volta_core.io.resources import resource_path, sample_scan_path
from volta_core.io.volume import Volume, axcodes_from_affine
from volta_core.io.writers import save_mask, save_volume

__all__ = [
    "FILE_DIALOG_FILTER",
    "SUPPORTED_SUFFIXES",
    "CorruptFileError",
    "DicomSeriesError",
    "FileAccessError",
    "MultiVolumeError",
    "MultipleSeriesError",
    "NonFiniteVoxelsError",
    "NotAVolumeError",
    "SeriesInfo",
    "UnsupportedFormatError",
    "Volume",
    "VolumeReadError",
    "VolumeTooLargeError",
    "VolumeWriteError",
    "axcodes_from_affine",
    "canonical_ras",
    "is_supported",
    "list_dicom_series",
    "load_volume",
    "resource_path",
    "sample_scan_path",
    "save_mask",
    "save_volume",
]
