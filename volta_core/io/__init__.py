"""Reading and writing scans. Imports without torch: opening a scan never pays for it.

Public API (implemented in the submodules):

- ``load_volume(path, *, series_uid=None, volume_index=None, nonfinite="error") -> Volume``
- ``list_dicom_series(folder) -> list[SeriesInfo]``
- ``save_volume(volume, path)`` and ``save_mask(mask, reference, path)``: NIfTI on the
  reference scan's exact grid.
- ``canonical_ras(volume) -> Volume``: the same image on a RAS-aligned grid (exact axis
  permutation/flip for non-oblique scans, trilinear resampling for oblique ones), used for display.
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
from volta_core.io.volume import Volume, axcodes_from_affine

__all__ = [
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
]
