"""Writing volumes and masks as NIfTI on a reference scan's exact grid, atomically."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import nibabel as nib
import numpy as np

from volta_core.io.atomic import write_atomically
from volta_core.io.nifti import COMMENT_EXTENSION_CODE, LABELS_KEY
from volta_core.io.volume import Volume

_NIFTI_SUFFIXES = (".nii.gz", ".nii")
NIFTI_INTENT_LABEL = 1002


def save_volume(volume: Volume, path: str | Path) -> Path:
    """Write ``volume`` as NIfTI (``.nii`` or ``.nii.gz``) with its exact shape and affine.

    qform and sform both hold the affine; their codes are the source's when it was NIfTI with a
    code set, otherwise 1 (scanner). Booleans are written as uint8, float64 as float32.

    Returns:
        The written path.

    Raises:
        ValueError: the path does not end in ``.nii`` or ``.nii.gz``.
        VolumeWriteError: the file could not be written (missing folder, no permission, disk full).
    """
    data = np.asarray(volume.data)
    if data.dtype == np.bool_:
        data = data.astype(np.uint8)
    elif data.dtype == np.float64:
        data = data.astype(np.float32)
    image = _nifti_image(data, volume.affine, volume.metadata)
    description = str(volume.metadata.get("description", ""))[:79]
    if description:
        image.header["descrip"] = description.encode("latin-1", "replace")
    return _write_atomically(Path(path), lambda tmp: nib.save(image, str(tmp)))


def save_mask(mask: np.ndarray, reference: Volume, path: str | Path, *,
              labels: dict[int, str] | None = None) -> Path:
    """Write a label mask (uint8) on ``reference``'s grid as NIfTI.

    Args:
        mask: integer or boolean array ``(I, J, K)`` with ``reference``'s shape; values 0..255.
        reference: the scan the mask belongs to; its affine and q/sform codes are copied.
        path: ``.nii`` or ``.nii.gz`` destination.
        labels: optional ``{value: name}``; stored as JSON in a NIfTI comment extension and read
            back by ``load_volume`` into ``metadata['labels']``. The intent is set to "label".

    Returns:
        The written path.

    Raises:
        ValueError: wrong shape, non-integer values or values outside 0..255, wrong suffix.
        VolumeWriteError: the file could not be written.
    """
    mask = np.asarray(mask)
    if mask.shape != reference.shape:
        raise ValueError(f"mask shape {mask.shape} does not match the reference grid {reference.shape}")
    if mask.dtype.kind == "f":
        if not np.all(np.isfinite(mask)) or not np.array_equal(mask, np.round(mask)):
            raise ValueError("mask values must be whole numbers (label values), got fractional or non-finite values")
    elif mask.dtype.kind not in "biu":
        raise ValueError(f"mask must hold integer labels, got dtype {mask.dtype}")
    if mask.size and (mask.min() < 0 or mask.max() > 255):
        raise ValueError(f"mask values must lie in 0..255, got {mask.min()}..{mask.max()}")
    image = _nifti_image(mask.astype(np.uint8), reference.affine, reference.metadata)
    image.header.set_intent(NIFTI_INTENT_LABEL, name="labels")
    if labels:
        payload = json.dumps({LABELS_KEY: {str(int(k)): str(v) for k, v in labels.items()}}).encode("utf-8")
        image.header.extensions.append(nib.nifti1.Nifti1Extension(COMMENT_EXTENSION_CODE, payload))
    return _write_atomically(Path(path), lambda tmp: nib.save(image, str(tmp)))


def _nifti_image(data: np.ndarray, affine: np.ndarray, source_metadata: dict) -> nib.Nifti1Image:
    image = nib.Nifti1Image(data, affine)
    qform_code = int(source_metadata.get("qform_code") or 0) or 1
    sform_code = int(source_metadata.get("sform_code") or 0) or qform_code
    image.header.set_qform(affine, code=qform_code)
    image.header.set_sform(affine, code=sform_code)
    image.header.set_xyzt_units("mm")
    return image


def _write_atomically(path: Path, write: Callable[[Path], None]) -> Path:
    """Write to a hidden temporary file next to ``path``, then rename it into place.

    A crash or a full disk never leaves a half-written file under the final name.
    """
    name = path.name
    suffix = next((s for s in _NIFTI_SUFFIXES if name.lower().endswith(s)), "")
    if not suffix:
        raise ValueError(f"'{name}': masks and volumes are written as NIfTI, use a .nii or .nii.gz name")
    return write_atomically(path, write, suffix=suffix)
