"""Typed errors for everything a user can hand the readers.

Every error carries a ``message`` (what is wrong) and a ``hint`` (what to do), which the CLI
prints and the GUI shows in a dialog.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class VolumeReadError(Exception):
    """Base class: the file or folder could not be turned into a 3D volume."""

    hint: str = "Check that the file is a 3D brain MRI scan in NIfTI, MGZ, NRRD, MHA/MHD or DICOM format."

    def __init__(self, message: str, *, path: str | Path | None = None, hint: str | None = None) -> None:
        self.message = message
        self.path = Path(path) if path is not None else None
        if hint is not None:
            self.hint = hint
        super().__init__(f"{message} {self.hint}".strip())


class UnsupportedFormatError(VolumeReadError):
    """The path is not an image format we can read (or not an image at all)."""


class CorruptFileError(VolumeReadError):
    """The file looks like a supported format but is truncated or damaged."""

    hint = "The file may be truncated or damaged: copy or export it again from the source."


class FileAccessError(VolumeReadError):
    """The path does not exist or cannot be read (permissions)."""

    hint = "Check that the file exists and that you have permission to read it."


class NotAVolumeError(VolumeReadError):
    """The image is 2D (or has a zero-length axis): not a volume."""

    hint = "Open a 3D scan. For DICOM, open the folder that holds all slices of the series."


class MultiVolumeError(VolumeReadError):
    """A 4D image (time series, diffusion, multi-echo): the caller must pick one volume."""

    hint = "Choose which volume to open (for example the first one)."

    def __init__(self, message: str, *, n_volumes: int, path: str | Path | None = None) -> None:
        self.n_volumes = n_volumes
        super().__init__(message, path=path)


class NonFiniteVoxelsError(VolumeReadError):
    """The image holds NaN or infinite voxels."""

    hint = "Open it with non-finite voxels replaced by 0, or fix the file."

    def __init__(self, message: str, *, n_nonfinite: int, path: str | Path | None = None) -> None:
        self.n_nonfinite = n_nonfinite
        super().__init__(message, path=path)


class VolumeTooLargeError(VolumeReadError):
    """The header promises more voxels than any brain scan has; refused before allocating."""

    hint = "This does not look like a brain MRI volume; crop or downsample it first."


@dataclass(frozen=True)
class SeriesInfo:
    """One DICOM series found in a folder."""

    uid: str
    description: str
    n_slices: int
    size: tuple[int, int]  # (rows, columns) of each slice
    modality: str = ""
    files: tuple[str, ...] = ()

    def label(self) -> str:
        desc = self.description or "(no description)"
        return f"{desc} - {self.size[1]}x{self.size[0]}, {self.n_slices} slices"


class DicomSeriesError(VolumeReadError):
    """A DICOM series is inconsistent: missing, duplicated or irregularly spaced slices."""

    hint = "Export the complete series again from the scanner or PACS (one folder per series)."


class MultipleSeriesError(VolumeReadError):
    """A folder holds several DICOM series: the caller must choose one."""

    hint = "Choose the series to open."

    def __init__(self, message: str, *, series: list[SeriesInfo], path: str | Path | None = None) -> None:
        self.series = series
        super().__init__(message, path=path)


class VolumeWriteError(Exception):
    """A result could not be written (disk full, no permission ...)."""

    def __init__(self, message: str, *, path: str | Path | None = None,
                 hint: str = "Choose another folder or free some disk space.") -> None:
        self.message = message
        self.hint = hint
        self.path = Path(path) if path is not None else None
        super().__init__(f"{message} {hint}")
