"""Which files we can open, and what a file really is (by name and by its first bytes)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from volta_core.io.errors import CorruptFileError, FileAccessError, UnsupportedFormatError

#: Lower-case file name endings the readers accept (a folder is read as a DICOM series).
SUPPORTED_SUFFIXES: tuple[str, ...] = (
    ".nii", ".nii.gz", ".mgz", ".mgh", ".nrrd", ".nhdr", ".mha", ".mhd", ".dcm", ".ima",
)

#: Name filter for ``QFileDialog.getOpenFileName`` (DICOM series: pick any slice of the series).
FILE_DIALOG_FILTER: str = ";;".join((
    "All supported scans (*.nii *.nii.gz *.mgz *.mgh *.nrrd *.nhdr *.mha *.mhd *.dcm *.ima)",
    "NIfTI (*.nii *.nii.gz)",
    "FreeSurfer MGH/MGZ (*.mgz *.mgh)",
    "NRRD (*.nrrd *.nhdr)",
    "MetaImage MHA/MHD (*.mha *.mhd)",
    "DICOM slice of a series (*.dcm *.ima)",
    "All files (*)",
))

_FORMAT_BY_SUFFIX: dict[str, str] = {
    ".nii.gz": "nifti", ".nii": "nifti", ".mgz": "mgh", ".mgh": "mgh",
    ".nrrd": "nrrd", ".nhdr": "nrrd", ".mha": "metaimage", ".mhd": "metaimage",
    ".dcm": "dicom", ".ima": "dicom",
}

# Signatures of common files that are certainly not volumes, so the message can name them.
_FOREIGN_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "a PNG picture"),
    (b"\xff\xd8\xff", "a JPEG picture"),
    (b"GIF8", "a GIF picture"),
    (b"II*\x00", "a TIFF picture"),
    (b"MM\x00*", "a TIFF picture"),
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive"),
    (b"BM", "a BMP picture"),
)
_SNIFF_BYTES = 1024


def suffix_of(path: str | Path) -> str:
    """The recognised, lower-case ending of ``path`` (``'.nii.gz'`` counts as one), or ``''``."""
    name = Path(path).name.lower()
    for suffix in sorted(_FORMAT_BY_SUFFIX, key=len, reverse=True):
        if name.endswith(suffix):
            return suffix
    return ""


def is_supported(path: str | Path) -> bool:
    """True when ``path`` is a folder (possible DICOM series) or has a supported file ending."""
    p = Path(path)
    return p.is_dir() or suffix_of(p) in _FORMAT_BY_SUFFIX


def read_head(path: Path) -> bytes:
    """The first bytes of a file; access problems become :class:`FileAccessError`."""
    try:
        with open(path, "rb") as handle:
            return handle.read(_SNIFF_BYTES)
    except FileNotFoundError as exc:
        raise FileAccessError(f"'{path}' does not exist.", path=path) from exc
    except PermissionError as exc:
        raise FileAccessError(f"No permission to read '{path}'.", path=path) from exc
    except IsADirectoryError as exc:
        raise FileAccessError(f"'{path}' is a folder, not a file.", path=path) from exc
    except OSError as exc:
        raise FileAccessError(f"'{path}' cannot be read: {exc.strerror or exc}.", path=path) from exc


def _special_kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _foreign_kind(head: bytes) -> str | None:
    for signature, kind in _FOREIGN_SIGNATURES:
        if head.startswith(signature):
            return kind
    return None


def _looks_like_text(head: bytes) -> bool:
    if not head or b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # a multi-byte character cut at the end of the sniffed block is still text
        if exc.start < len(head) - 4:
            return False
    return True


def _is_metaimage_header(head: bytes) -> bool:
    text = head.decode("latin-1").lstrip()
    keys = ("ObjectType", "NDims", "DimSize", "ElementType")
    return any(line.strip().startswith(keys) for line in text.splitlines()[:20])


def detect_format(path: Path) -> str:
    """Decide how to read ``path``: ``'nifti'``, ``'mgh'``, ``'nrrd'``, ``'metaimage'``, ``'dicom'``
    (a slice file) or ``'dicom-folder'``.

    Raises:
        FileAccessError: the path is missing or unreadable, or a folder named like an image file.
        UnsupportedFormatError: the file is not an image we read (text, PNG, JPEG, PDF ...).
        CorruptFileError: the file is empty.
    """
    if not os.path.lexists(path):
        raise FileAccessError(f"'{path}' does not exist.", path=path)
    suffix = suffix_of(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError as exc:
        raise FileAccessError(f"'{path}' is a link to a file that does not exist.", path=path) from exc
    except OSError as exc:
        raise FileAccessError(f"'{path}' cannot be read: {exc.strerror or exc}.", path=path) from exc
    if stat.S_ISDIR(mode):
        if suffix and suffix not in (".dcm", ".ima"):
            raise FileAccessError(f"'{path}' is a folder, not a {suffix} file.", path=path)
        return "dicom-folder"
    if not stat.S_ISREG(mode):
        # reading a FIFO blocks until a writer comes, a device never ends: only regular files are opened
        raise UnsupportedFormatError(f"'{path}' is {_special_kind(mode)}, not a scan file.", path=path,
                                     hint="Give the path of a scan file (NIfTI, MGZ, NRRD, MHA/MHD) or of a "
                                          "DICOM series folder.")
    head = read_head(path)
    if not head:
        raise CorruptFileError(f"'{path.name}' is empty (0 bytes).", path=path)
    # a DICOM preamble may legally hold a TIFF header ("dual-personality" files): DICM wins
    foreign = None if head[128:132] == b"DICM" else _foreign_kind(head)
    if foreign is not None:
        raise UnsupportedFormatError(
            f"'{path.name}' is {foreign}, not a 3D scan.", path=path,
            hint="Open the scan itself (NIfTI, MGZ, NRRD, MHA/MHD or a DICOM series), not a picture or export of it.",
        )
    fmt = _FORMAT_BY_SUFFIX.get(suffix, "")
    if not fmt:
        fmt = _format_from_content(head)
        if not fmt:
            raise UnsupportedFormatError(
                f"'{path.name}' is {'a text file' if _looks_like_text(head) else 'not a recognised image file'}"
                f" (supported endings: {', '.join(SUPPORTED_SUFFIXES)}).", path=path,
            )
        return fmt
    _check_content_matches(path, fmt, head)
    return fmt


def _format_from_content(head: bytes) -> str:
    if len(head) >= 132 and head[128:132] == b"DICM":
        return "dicom"
    if len(head) >= 348 and head[344:348] in (b"n+1\x00", b"ni1\x00"):
        return "nifti"
    if head.startswith(b"NRRD"):
        return "nrrd"
    if _looks_like_text(head) and _is_metaimage_header(head):
        return "metaimage"
    return ""


def _check_content_matches(path: Path, fmt: str, head: bytes) -> None:
    """Reject files whose bytes cannot be the format their name promises."""
    text = _looks_like_text(head)
    if fmt in ("nifti", "mgh", "dicom"):
        if text:
            raise UnsupportedFormatError(
                f"'{path.name}' is a text file, not a {fmt.upper()} image.", path=path)
        return
    if fmt == "nrrd" and not head.startswith(b"NRRD"):
        kind = "a text file" if text else "a binary file"
        raise UnsupportedFormatError(f"'{path.name}' is {kind} without an NRRD header.", path=path)
    if fmt == "metaimage" and not _is_metaimage_header(head):
        kind = "a text file" if text else "a binary file"
        raise UnsupportedFormatError(f"'{path.name}' is {kind} without a MetaImage header.", path=path)
