"""The one place where ``volta_core.data`` reads image files.

Uses :func:`volta_core.io.load_volume` when the io package provides it, else nibabel directly,
so switching readers is a change to this file only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


class ImageReadError(OSError):
    """An image or mask file could not be read as a 3D volume."""


@dataclass
class RawVolume:
    """Voxel array in storage order and its voxel -> RAS mm affine."""

    data: np.ndarray  # (I, J, K)
    affine: np.ndarray  # (4, 4)


def read_volume(path: str | Path) -> RawVolume:
    """Read a 3D scan or mask.

    Raises:
        ImageReadError: missing, unreadable, corrupt or not 3D (the message says which).
    """
    path = Path(path)
    try:
        from volta_core.io import load_volume  # type: ignore[attr-defined]
    except ImportError:
        load_volume = None
    if load_volume is not None:
        try:
            vol = load_volume(path)
        except Exception as exc:  # io raises typed VolumeReadError subclasses
            raise ImageReadError(f"{path}: {getattr(exc, 'message', exc)}") from exc
        return RawVolume(np.asarray(vol.data), np.asarray(vol.affine, dtype=np.float64))
    import nibabel as nib

    if not path.is_file():
        raise ImageReadError(f"{path}: file not found")
    try:
        img = nib.load(str(path))
        data = np.asarray(img.dataobj)
    except Exception as exc:  # nibabel raises many types for damaged files
        raise ImageReadError(f"{path}: cannot read ({exc})") from exc
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise ImageReadError(f"{path}: expected a 3D volume, got shape {data.shape}")
    return RawVolume(data, np.asarray(img.affine, dtype=np.float64))
