"""``load_volume``: one entry point for every scan format."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np

from volta_core.io.checks import (
    DEFAULT_MAX_VOXELS,
    check_nonfinite_policy,
    compact_dtype,
    handle_nonfinite,
)
from volta_core.io.dicom import read_dicom
from volta_core.io.errors import CorruptFileError, VolumeReadError
from volta_core.io.formats import detect_format
from volta_core.io.itk import read_itk
from volta_core.io.nifti import read_nibabel
from volta_core.io.volume import Volume


def load_volume(
    path: str | Path,
    *,
    series_uid: str | None = None,
    volume_index: int | None = None,
    nonfinite: Literal["error", "zero"] = "error",
    max_voxels: int = DEFAULT_MAX_VOXELS,
) -> Volume:
    """Read a 3D scan from NIfTI, MGH/MGZ, NRRD, MetaImage or a DICOM series.

    Args:
        path: an image file, a DICOM series folder, or one ``.dcm`` file of a series.
        series_uid: SeriesInstanceUID to open when a DICOM folder holds several series.
        volume_index: which volume of a 4D image to open (0-based). A trailing 4th axis of
            length 1 is treated as 3D and needs no index.
        nonfinite: ``'error'`` refuses NaN/Inf voxels; ``'zero'`` replaces them with 0 and
            records a warning in ``metadata['warnings']``.
        max_voxels: refuse images whose header declares more voxels than this (checked before
            any voxel data is read).

    Returns:
        The volume in storage order with its exact voxel->RAS+ affine. Voxels keep a compact
        dtype (integers up to 32 bits, floats as float32). ``metadata`` holds at least
        ``format``, ``dtype``, ``original_shape`` and ``warnings``; DICOM adds ``dicom`` and
        ``patient`` (identifiers live only there).

    Raises:
        VolumeReadError: one of its subclasses, with a ``message`` and a ``hint``, for every
            problem with the input; no reader library exception reaches the caller.
        ValueError: an invalid ``nonfinite`` argument (a programming error).
    """
    check_nonfinite_policy(nonfinite)
    path = Path(path).expanduser()
    kind = detect_format(path)
    try:
        if kind in ("nifti", "mgh"):
            data, affine, metadata = read_nibabel(path, volume_index=volume_index, max_voxels=max_voxels)
        elif kind in ("nrrd", "metaimage"):
            data, affine, metadata = read_itk(path, volume_index=volume_index, max_voxels=max_voxels)
        else:
            data, affine, metadata = read_dicom(path, series_uid=series_uid, max_voxels=max_voxels)
    except VolumeReadError:
        raise
    except MemoryError as exc:
        raise CorruptFileError(f"Not enough memory to read '{path.name}'.", path=path,
                               hint="Close other programs or open a smaller scan.") from exc
    except Exception as exc:  # last line of defence: never leak a library exception
        raise CorruptFileError(f"'{path.name}' could not be read ({type(exc).__name__}: {exc}).", path=path) from exc
    return _finish(data, affine, metadata, path=path, nonfinite=nonfinite)


def _finish(data: np.ndarray, affine: np.ndarray, metadata: dict[str, Any], *, path: Path,
            nonfinite: str) -> Volume:
    if not np.all(np.isfinite(affine)) or abs(np.linalg.det(affine[:3, :3])) < 1e-12:
        raise CorruptFileError(f"'{path.name}' has an invalid (singular or non-finite) voxel-to-world matrix.",
                               path=path, hint="Fix the orientation header of the file, or export it again.")
    warnings: list[str] = list(metadata.get("warnings", []))
    data = compact_dtype(np.asarray(data), path=path)
    data = handle_nonfinite(data, path=path, policy=nonfinite, warnings=warnings)
    metadata = {**metadata, "warnings": warnings}
    return Volume(data=data, affine=affine, metadata=metadata, source=path)
