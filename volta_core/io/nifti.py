"""NIfTI (.nii, .nii.gz) and FreeSurfer MGH/MGZ reading with nibabel."""

from __future__ import annotations

import gzip
import json
import struct
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

from volta_core.io.checks import DEFLATE_MAX_RATIO, check_declared_bytes, jsonable, select_volume
from volta_core.io.errors import CorruptFileError, VolumeReadError

#: NIfTI header extension code used for our JSON payload (6 = "comment" in the NIfTI registry).
COMMENT_EXTENSION_CODE = 6
LABELS_KEY = "volta_labels"
# Up to this uncompressed size a gzipped file is decompressed in one go (CRC-checked); beyond it
# (large 4D series) voxels are read lazily so a single volume does not need the whole file in memory.
_VERIFY_GZIP_MAX_BYTES = 2 * 1024**3


def read_nibabel(path: Path, *, volume_index: int | None, max_voxels: int,
                 ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Read one 3D volume of a NIfTI or MGH/MGZ file.

    Args:
        path: the file.
        volume_index: which volume of a 4D file to read (``None``: the file must be 3D).
        max_voxels: refuse headers that declare more voxels than this, before reading voxels.

    Returns:
        ``(data (I, J, K) as stored, affine voxel->RAS+ mm, metadata)``.

    Raises:
        CorruptFileError: unreadable header or truncated/damaged voxel data.
        NotAVolumeError, MultiVolumeError, VolumeTooLargeError, UnsupportedFormatError: see
            :func:`volta_core.io.checks.select_volume`.
    """
    image: nib.Nifti1Image | nib.MGHImage | None = None
    file_bytes = path.stat().st_size
    if _is_gzip(path):
        # Only the header is decompressed first, so absurd dimensions are refused before any voxel.
        image_class, shape, declared_bytes = _gzip_header(path)
        selection = select_volume(shape, path=path, volume_index=volume_index, max_voxels=max_voxels)
        check_declared_bytes(path, declared=declared_bytes, available=file_bytes, ratio=DEFLATE_MAX_RATIO)
    else:
        image = _load_lazily(path)
        image_class, shape = type(image), tuple(image.shape)
        selection = select_volume(shape, path=path, volume_index=volume_index, max_voxels=max_voxels)
        declared_bytes = _declared_bytes(image)
        check_declared_bytes(path, declared=declared_bytes,
                             available=file_bytes - int(getattr(image.dataobj, "offset", 0) or 0))
    try:
        if image is None and declared_bytes <= _VERIFY_GZIP_MAX_BYTES:
            # One pass over the whole stream: zlib checks the CRC and length in the gzip trailer,
            # which a lazy read never reaches (damaged data would pass unnoticed).
            image = image_class.from_bytes(gzip.decompress(path.read_bytes()))
        elif image is None:
            image = _load_lazily(path)  # huge 4D series: read only the chosen volume
        if tuple(image.shape) != tuple(shape):
            raise CorruptFileError(f"The header of '{path.name}' is inconsistent.", path=path)
        proxy = image.dataobj
        if selection.volume_index is None:
            data = np.asanyarray(proxy)
        else:
            index = (slice(None),) * 3 + (selection.volume_index,) + (0,) * (len(image.shape) - 4)
            data = np.asanyarray(proxy[index])
        data = data.reshape(selection.shape)
    except VolumeReadError:
        raise
    except Exception as exc:  # EOFError, zlib.error, OSError, ValueError from truncated data
        raise CorruptFileError(
            f"The voxel data of '{path.name}' could not be read ({_reason(exc)}).", path=path) from exc
    affine = np.asarray(image.affine, dtype=np.float64)
    metadata = _metadata(image, path)
    metadata["n_volumes"] = selection.n_volumes
    if selection.volume_index is not None:
        metadata["volume_index"] = selection.volume_index
    return data, affine, metadata


def _declared_bytes(image: nib.Nifti1Image | nib.MGHImage) -> int:
    n_voxels = float(np.prod(np.asarray(image.shape, dtype=np.float64)))
    return int(min(n_voxels * image.header.get_data_dtype().itemsize, 2.0**62))


def _load_lazily(path: Path) -> nib.Nifti1Image | nib.MGHImage:
    try:
        image = nib.load(str(path))
    except Exception as exc:  # nibabel raises many types for damaged headers
        raise CorruptFileError(f"'{path.name}' has no readable image header ({_reason(exc)}).", path=path) from exc
    if not isinstance(image, (nib.Nifti1Image, nib.MGHImage)):
        raise CorruptFileError(f"'{path.name}' is not a NIfTI or MGH image.", path=path)
    return image


_MGH_BYTES_PER_VOXEL = {0: 1, 1: 4, 3: 4, 4: 2}  # MRI_UCHAR, MRI_INT, MRI_FLOAT, MRI_SHORT


def _gzip_header(path: Path) -> tuple[type[nib.Nifti1Image] | type[nib.MGHImage], tuple[int, ...], int]:
    """``(image class, shape, declared voxel bytes)`` from the first bytes of a gzipped file."""
    try:
        with gzip.open(path, "rb") as stream:
            head = stream.read(540)
    except Exception as exc:  # BadGzipFile, EOFError, zlib.error
        raise CorruptFileError(f"'{path.name}' is not a readable gzip file ({_reason(exc)}).", path=path) from exc
    try:
        if path.name.lower().endswith((".mgz", ".mgh")):
            version, width, height, depth, frames, kind = struct.unpack(">6i", head[:24])
            if version != 1 or kind not in _MGH_BYTES_PER_VOXEL:
                raise ValueError(f"MGH version {version}, voxel type {kind}")
            shape = (width, height, depth) if frames == 1 else (width, height, depth, frames)
            n_voxels = int(np.prod(np.asarray(shape, dtype=np.float64)))
            return nib.MGHImage, shape, n_voxels * _MGH_BYTES_PER_VOXEL[kind]
        sizeof_hdr = struct.unpack("<i", head[:4])[0]
        if sizeof_hdr in (348, 540):
            big_endian = False
        else:
            sizeof_hdr, big_endian = struct.unpack(">i", head[:4])[0], True
        header_class, image_class = {348: (nib.Nifti1Header, nib.Nifti1Image),
                                     540: (nib.Nifti2Header, nib.Nifti2Image)}[sizeof_hdr]
        header = header_class(head[:sizeof_hdr], endianness=">" if big_endian else "<", check=True)
        shape = tuple(int(d) for d in header.get_data_shape())
        n_voxels = int(np.prod(np.asarray(shape, dtype=np.float64)))
        return image_class, shape, n_voxels * header.get_data_dtype().itemsize
    except Exception as exc:  # struct.error, KeyError, HeaderDataError ...
        raise CorruptFileError(f"'{path.name}' has no readable image header ({_reason(exc)}).", path=path) from exc


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(2) == b"\x1f\x8b"


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) < 200 else text[:197] + "..."


def _metadata(image: nib.Nifti1Image | nib.MGHImage, path: Path) -> dict[str, Any]:
    header = image.header
    meta: dict[str, Any] = {
        "dtype": header.get_data_dtype().name,
        "original_shape": [int(s) for s in image.shape],
    }
    if isinstance(image, nib.MGHImage):
        meta["format"] = "mgz" if path.name.lower().endswith(".mgz") else "mgh"
        mgh: dict[str, Any] = {}
        for key in ("tr", "flip_angle", "te", "ti"):
            try:
                mgh[key] = float(header[key])
            except (KeyError, ValueError, TypeError):
                continue
        meta["mgh"] = jsonable(mgh)
        return meta
    meta["format"] = "nifti2" if isinstance(image, nib.Nifti2Image) else "nifti1"
    meta["qform_code"] = int(header["qform_code"])
    meta["sform_code"] = int(header["sform_code"])
    intent_code, intent_params, intent_name = header.get_intent()
    meta["intent"] = {"code": str(intent_code), "name": str(intent_name), "params": jsonable(intent_params)}
    meta["description"] = jsonable(header["descrip"].tobytes())
    slope, inter = header.get_slope_inter()
    meta["scl_slope"] = jsonable(slope)
    meta["scl_inter"] = jsonable(inter)
    space_unit, time_unit = header.get_xyzt_units()
    meta["units"] = {"space": space_unit, "time": time_unit}
    meta = jsonable(meta)
    labels = read_labels_extension(header)
    if labels:
        meta["labels"] = labels  # {label value: name}; int keys, as save_mask takes them
    return meta


def read_labels_extension(header: nib.Nifti1Header) -> dict[int, str]:
    """Label names stored by :func:`volta_core.io.writers.save_mask` (empty if none)."""
    for extension in header.extensions:
        if extension.get_code() != COMMENT_EXTENSION_CODE:
            continue
        try:
            payload = json.loads(extension.get_content().decode("utf-8").rstrip("\x00"))
            labels = payload[LABELS_KEY]
            return {int(k): str(v) for k, v in labels.items()}
        except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError):
            continue
    return {}
