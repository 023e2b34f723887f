"""Checks every reader applies: header dimensions before reading, then the voxels after."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from volta_core.io.errors import (
    CorruptFileError,
    MultiVolumeError,
    NonFiniteVoxelsError,
    NotAVolumeError,
    UnsupportedFormatError,
    VolumeTooLargeError,
)

DEFAULT_MAX_VOXELS = 1_000_000_000
#: Part of the warning recorded when NaN/inf voxels were replaced (callers look for it).
NAN_REPLACED = "NaN or infinite voxels were replaced by 0"


@dataclass(frozen=True)
class VolumeSelection:
    """What to read from a possibly 4D image, decided from the header alone.

    Attributes:
        shape: the 3D shape ``(I, J, K)`` that will be returned.
        volume_index: index along the 4th axis to read, or ``None`` for a 3D image.
        n_volumes: number of volumes along the 4th axis (1 for a 3D image).
    """

    shape: tuple[int, int, int]
    volume_index: int | None
    n_volumes: int


def select_volume(shape: tuple[int, ...], *, path: Path, volume_index: int | None,
                  max_voxels: int) -> VolumeSelection:
    """Validate header dimensions and choose the 3D volume to read, before any voxel is read.

    Trailing singleton dimensions beyond the third are dropped (a ``(I, J, K, 1)`` image is 3D).

    Raises:
        NotAVolumeError: fewer than 3 axes, or a spatial axis of length 0 or 1.
        MultiVolumeError: a 4D image with several volumes and no ``volume_index``.
        UnsupportedFormatError: 5D or higher images, or ``volume_index`` out of range.
        VolumeTooLargeError: more than ``max_voxels`` voxels in the selected volume.
    """
    dims = [int(d) for d in shape]
    while len(dims) > 3 and dims[-1] == 1:
        dims.pop()
    if len(dims) < 3:
        raise NotAVolumeError(f"'{path.name}' is a {len(dims)}D image {tuple(dims)}, not a 3D volume.", path=path)
    spatial = dims[:3]
    if min(spatial) <= 1:
        raise NotAVolumeError(
            f"'{path.name}' has shape {tuple(dims)}: an axis of length {min(spatial)} is not a volume.", path=path)
    if len(dims) > 4:
        raise UnsupportedFormatError(
            f"'{path.name}' has {len(dims)} dimensions {tuple(dims)}; only 3D and 4D images are supported.",
            path=path, hint="Export one 3D volume from this file first.")
    n_volumes = dims[3] if len(dims) == 4 else 1
    n_voxels = int(np.prod(np.asarray(spatial, dtype=np.float64)))
    if n_voxels > max_voxels:
        raise VolumeTooLargeError(
            f"'{path.name}' declares {n_voxels:,} voxels per volume {tuple(spatial)}, more than the limit of "
            f"{max_voxels:,}.", path=path)
    if n_volumes == 1:
        return VolumeSelection((spatial[0], spatial[1], spatial[2]), None, 1)
    if volume_index is None:
        raise MultiVolumeError(
            f"'{path.name}' holds {n_volumes} volumes of {tuple(spatial)} (a 4D series).",
            n_volumes=n_volumes, path=path)
    if not -n_volumes <= volume_index < n_volumes:
        raise UnsupportedFormatError(
            f"Volume {volume_index} was requested but '{path.name}' holds {n_volumes} volumes.", path=path,
            hint=f"Choose a volume index between 0 and {n_volumes - 1}.")
    return VolumeSelection((spatial[0], spatial[1], spatial[2]), volume_index % n_volumes, n_volumes)


#: deflate (gzip, zlib) expands at most about 1032-fold: more promised voxel bytes than this
#: times the compressed size cannot be in the file.
DEFLATE_MAX_RATIO = 1032


def check_declared_bytes(path: Path, *, declared: int, available: int, ratio: float = 1.0,
                         what: str = "") -> None:
    """Refuse a header that promises more voxel bytes than the file can hold, before allocating.

    Args:
        path: the file (for the message).
        declared: bytes of voxel data the header declares.
        available: bytes on disk that can hold them (compressed bytes for a compressed file).
        ratio: the most one stored byte can expand to (1 for raw data, 1032 for deflate).
        what: which file holds the data, when it is not ``path`` (detached headers).

    Raises:
        CorruptFileError: the data cannot be in the file (truncated, or a header that lies).
    """
    if declared <= max(0, available) * ratio:
        return
    where = f" in '{what}'" if what else ""
    raise CorruptFileError(
        f"The header of '{path.name}' declares {_size(declared)} of voxel data, but only {_size(max(0, available))}"
        f"{' (compressed)' if ratio > 1 else ''} are stored{where}: the file is truncated or its header is wrong.",
        path=path)


def _size(n_bytes: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if n_bytes < 1024 or unit == "TB":
            return f"{n_bytes:.0f} {unit}" if unit == "bytes" else f"{n_bytes:.1f} {unit}"
        n_bytes /= 1024
    return f"{n_bytes:.1f} TB"


def compact_dtype(data: np.ndarray, *, path: Path) -> np.ndarray:
    """Native-endian voxels in the smallest faithful dtype of at most 32 bits (float32 at most).

    Raises:
        UnsupportedFormatError: complex, RGB/structured or other non-scalar voxel types.
    """
    dtype = data.dtype
    if dtype.fields is not None or dtype.kind not in "biuf":
        raise UnsupportedFormatError(
            f"'{path.name}' stores {dtype} voxels (colour or complex), not scalar intensities.", path=path,
            hint="Open a greyscale (scalar) scan.")
    if dtype.kind == "b":
        return data.astype(np.uint8)
    if dtype.kind == "f" and dtype.itemsize != 4:
        return data.astype(np.float32)
    if dtype.kind in "iu" and dtype.itemsize > 4:
        lo, hi = (int(data.min()), int(data.max())) if data.size else (0, 0)
        for candidate in (np.uint8, np.int16, np.uint16, np.int32, np.uint32):
            info = np.iinfo(candidate)
            if info.min <= lo and hi <= info.max:
                return data.astype(candidate)
        return data.astype(np.float32)
    if not dtype.isnative:
        return data.astype(dtype.newbyteorder("="))
    return data


def handle_nonfinite(data: np.ndarray, *, path: Path, policy: str,
                     warnings: list[str]) -> np.ndarray:
    """Refuse or zero NaN/Inf voxels according to ``policy`` (``'error'`` or ``'zero'``).

    Raises:
        NonFiniteVoxelsError: non-finite voxels and ``policy == 'error'``.
    """
    if data.dtype.kind != "f":
        return data
    bad = ~np.isfinite(data)
    n_bad = int(np.count_nonzero(bad))
    if n_bad == 0:
        return data
    if policy != "zero":
        raise NonFiniteVoxelsError(
            f"'{path.name}' has {n_bad:,} NaN or infinite voxels out of {data.size:,}.",
            n_nonfinite=n_bad, path=path)
    if not data.flags.writeable:
        data = data.copy()
    data[bad] = 0
    warnings.append(f"{n_bad} {NAN_REPLACED}.")
    return data


def check_nonfinite_policy(nonfinite: str) -> None:
    if nonfinite not in ("error", "zero"):
        raise ValueError(f"nonfinite must be 'error' or 'zero', got {nonfinite!r}")


def jsonable(value: Any) -> Any:
    """Header values as plain Python (numpy scalars/arrays and bytes become numbers, lists, str)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        return jsonable(value.item())
    if isinstance(value, bytes):
        return value.split(b"\x00", 1)[0].decode("latin-1").strip()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value
