"""NRRD (.nrrd/.nhdr) and MetaImage (.mha/.mhd) reading with SimpleITK, and the LPS<->RAS
geometry conversion shared with the DICOM reader.

ITK stores physical points in LPS (x to the Left, y Posterior); our affines are RAS+, so the
x and y rows of the direction matrix and of the origin change sign. Nothing else changes.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Any

import numpy as np

from volta_core.io.checks import DEFLATE_MAX_RATIO, check_declared_bytes, jsonable, select_volume
from volta_core.io.errors import CorruptFileError, VolumeReadError, VolumeTooLargeError
from volta_core.io.lazy_sitk import sitk
from volta_core.io.volume import Volume

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0])


def affine_from_itk(direction: np.ndarray, spacing: np.ndarray, origin: np.ndarray) -> np.ndarray:
    """Voxel -> RAS+ affine from ITK's LPS geometry.

    Args:
        direction: ``(3, 3)`` direction cosines (columns = storage axes) in LPS.
        spacing: ``(3,)`` voxel size in mm.
        origin: ``(3,)`` LPS position of voxel ``(0, 0, 0)``.
    """
    affine = np.eye(4)
    affine[:3, :3] = LPS_TO_RAS @ np.asarray(direction, dtype=np.float64) @ np.diag(np.asarray(spacing, dtype=np.float64))
    affine[:3, 3] = LPS_TO_RAS @ np.asarray(origin, dtype=np.float64)
    return affine


def itk_geometry_from_affine(affine: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inverse of :func:`affine_from_itk`: ``(direction (3, 3), spacing (3,), origin (3,))`` in LPS."""
    affine = np.asarray(affine, dtype=np.float64)
    spacing = np.linalg.norm(affine[:3, :3], axis=0)
    direction = LPS_TO_RAS @ affine[:3, :3] / spacing
    origin = LPS_TO_RAS @ affine[:3, 3]
    return direction, spacing, origin


def volume_to_sitk(volume: Volume) -> sitk.Image:
    """A SimpleITK image with the volume's voxels and exact geometry (for writers and tests)."""
    image = sitk.GetImageFromArray(np.ascontiguousarray(volume.data.transpose(2, 1, 0)))
    direction, spacing, origin = itk_geometry_from_affine(volume.affine)
    image.SetSpacing([float(s) for s in spacing])
    image.SetDirection([float(d) for d in direction.ravel()])
    image.SetOrigin([float(o) for o in origin])
    return image


def sitk_to_array(image: sitk.Image) -> np.ndarray:
    """Voxels of a 3D SimpleITK image in ``(I, J, K)`` storage order."""
    return sitk.GetArrayFromImage(image).transpose(2, 1, 0)


def read_itk(path: Path, *, volume_index: int | None, max_voxels: int,
             ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Read one 3D volume of an NRRD or MetaImage file.

    The header is read first (``ReadImageInformation``) so dimensions are checked before any
    voxel data is loaded.

    Returns:
        ``(data (I, J, K), affine voxel->RAS+ mm, metadata)``.

    Raises:
        CorruptFileError: unreadable header, missing detached data file, or truncated data.
        NotAVolumeError, MultiVolumeError, VolumeTooLargeError, UnsupportedFormatError: see
            :func:`volta_core.io.checks.select_volume`.
    """
    stored = _stored_data_checked(path)  # before ITK opens anything: a FIFO data file would block it
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError as exc:
        raise CorruptFileError(f"'{path.name}' has no readable image header ({_itk_reason(exc)}).", path=path) from exc
    dimension = reader.GetDimension()
    components = reader.GetNumberOfComponents()
    shape = tuple(int(s) for s in reader.GetSize())
    if components > 1:
        shape = shape + (components,)
    selection = select_volume(shape, path=path, volume_index=volume_index, max_voxels=max_voxels)
    total_voxels = int(np.prod(np.asarray(shape, dtype=np.float64)))
    if total_voxels > max_voxels:  # ITK reads every volume of a 4D file, not just the chosen one
        raise VolumeTooLargeError(
            f"'{path.name}' holds {total_voxels:,} voxels in {selection.n_volumes} volumes, more than the limit of "
            f"{max_voxels:,} that can be read at once.", path=path, hint="Split the series into 3D files first.")
    if stored is not None and stored[2] is not None:  # total_voxels counts components
        data_file, available, ratio = stored
        check_declared_bytes(path, declared=total_voxels * _component_bytes(reader), available=available,
                             ratio=ratio, what=data_file.name if data_file != path else "")
    direction = np.asarray(reader.GetDirection(), dtype=np.float64).reshape(dimension, dimension)[:3, :3]
    spacing = np.asarray(reader.GetSpacing(), dtype=np.float64)[:3]
    origin = np.asarray(reader.GetOrigin(), dtype=np.float64)[:3]
    try:
        image = reader.Execute()
        array = sitk.GetArrayFromImage(image)  # (K, J, I), (T, K, J, I) or (K, J, I, C)
    except RuntimeError as exc:
        raise CorruptFileError(
            f"The voxel data of '{path.name}' could not be read ({_itk_reason(exc)}).", path=path) from exc
    except VolumeReadError:
        raise
    if selection.volume_index is not None:
        array = array[..., selection.volume_index] if components > 1 else array[selection.volume_index]
    array = array.reshape(selection.shape[::-1])
    data = array.transpose(2, 1, 0)
    metadata: dict[str, Any] = {
        "format": "nrrd" if path.suffix.lower() in (".nrrd", ".nhdr") else "metaimage",
        "dtype": str(array.dtype),
        "itk_pixel_type": image.GetPixelIDTypeAsString(),
        "original_shape": list(shape),
        "n_volumes": selection.n_volumes,
        "header": _header_fields(reader),
    }
    if selection.volume_index is not None:
        metadata["volume_index"] = selection.volume_index
    return data, affine_from_itk(direction, spacing, origin), jsonable(metadata)


_HEADER_BYTES = 65536
# how much one stored byte can expand to, by NRRD encoding (None: no useful bound)
_NRRD_RATIO: dict[str, float | None] = {"raw": 1.0, "gzip": DEFLATE_MAX_RATIO, "gz": DEFLATE_MAX_RATIO,
                                        "ascii": 4.0, "text": 4.0, "txt": 4.0, "hex": 0.5,
                                        "bzip2": None, "bz2": None}


def _component_bytes(reader: sitk.ImageFileReader) -> int:
    """Bytes of one voxel component (from ITK's pixel type name, e.g. "32-bit float")."""
    name = sitk.GetPixelIDValueAsString(reader.GetPixelID())
    match = re.search(r"(\d+)-bit", name)
    return int(match.group(1)) // 8 if match else 8


def _header_text(path: Path) -> tuple[str, int]:
    """The text header of an NRRD/MetaImage file and where it ends (bytes)."""
    with open(path, "rb") as handle:
        head = handle.read(_HEADER_BYTES)
    text = head.decode("latin-1")
    return text, len(head)


def _stored_data(path: Path) -> tuple[Path, int, float | None] | None:
    """``(file holding the voxels, bytes of it that hold them, expansion ratio)``, or ``None``
    when the header names several files (a LIST or a pattern): then no bound is checked."""
    text, _ = _header_text(path)
    is_nrrd = text.startswith("NRRD")
    fields: dict[str, str] = {}
    end = None
    offset = 0
    for line in text.splitlines(keepends=True):
        offset += len(line)
        stripped = line.strip()
        if is_nrrd:
            if not stripped:  # a blank line ends an NRRD header; the data follow
                end = offset
                break
            if stripped.startswith("#") or ":" not in stripped:
                continue
            key, value = stripped.split(":", 1)
            fields[key.strip().lower().replace(" ", "")] = value.lstrip("=").strip()
        else:
            if "=" not in stripped:
                continue
            key, value = stripped.split("=", 1)
            fields[key.strip().lower()] = value.strip()
            if key.strip().lower() == "elementdatafile":  # the last MetaImage field; data follow
                end = offset
                break
    if is_nrrd:
        ratio = _NRRD_RATIO.get(fields.get("encoding", "raw").lower(), None)
        detached = fields.get("datafile")
    else:
        compressed = fields.get("compresseddata", "false").lower() in ("true", "1", "yes")
        ratio = DEFLATE_MAX_RATIO if compressed else 1.0
        detached = fields.get("elementdatafile", "LOCAL")
        detached = None if detached.upper() == "LOCAL" else detached
    if detached is None:
        size = path.stat().st_size
        return path, size - (end if end is not None else min(size, _HEADER_BYTES)), ratio
    if detached.upper().startswith("LIST") or "%" in detached or " " in detached.strip():
        return None
    data_file = Path(detached) if Path(detached).is_absolute() else path.parent / detached
    return data_file, -1, ratio


def _stored_data_checked(path: Path) -> tuple[Path, int, float | None] | None:
    """:func:`_stored_data` with a detached data file checked: present and a regular file.

    Raises:
        CorruptFileError: the header cannot be read, or its data file is missing or not a regular file.
    """
    try:
        stored = _stored_data(path)
    except OSError as exc:
        raise CorruptFileError(f"'{path.name}' cannot be read ({exc.strerror or exc}).", path=path) from exc
    if stored is None or stored[1] >= 0:
        return stored
    data_file, _, ratio = stored
    try:
        st = os.stat(data_file)
    except OSError as exc:
        raise CorruptFileError(f"The data file '{data_file.name}' named in '{path.name}' cannot be read "
                               f"({exc.strerror or exc}).", path=path,
                               hint="Keep the header and its data file together in one folder.") from exc
    if not stat.S_ISREG(st.st_mode):
        raise CorruptFileError(f"The data file '{data_file}' named in '{path.name}' is not a regular file.",
                               path=path, hint="Point the header at the file that holds the voxels.")
    return data_file, st.st_size, ratio


def _header_fields(reader: sitk.ImageFileReader) -> dict[str, str]:
    fields: dict[str, str] = {}
    for key in reader.GetMetaDataKeys():
        value = reader.GetMetaData(key)
        if len(value) <= 200:
            fields[key] = value
    return fields


def _itk_reason(exc: BaseException) -> str:
    """The useful last line of an ITK exception (they carry file/line noise first)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = lines[-1] if lines else type(exc).__name__
    return text if len(text) < 200 else text[:197] + "..."
