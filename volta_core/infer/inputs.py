"""Turn the paths a user gives ``volta predict`` into a list of scans: files, folders, BIDS."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from volta_core.io import is_supported

_DICOM_SUFFIXES = {".dcm", ".ima", ""}


@dataclass(frozen=True)
class ScanInput:
    """One scan to predict on: a unique display name (used for output files) and its path."""

    name: str
    path: Path


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (".nii.gz", ".nii", ".mgz", ".mgh", ".nrrd", ".nhdr", ".mha", ".mhd"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def _is_bids(folder: Path) -> bool:
    return (folder / "dataset_description.json").is_file() or any(folder.glob("sub-*/anat")) or any(
        folder.glob("sub-*/ses-*/anat"))


def _looks_like_dicom_folder(folder: Path) -> bool:
    files = [p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")]
    if not files:
        return False
    return any(p.suffix.lower() in (".dcm", ".ima") for p in files) or all(_has_dicom_magic(p) for p in files[:3])


def _has_dicom_magic(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            handle.seek(128)
            return handle.read(4) == b"DICM"
    except OSError:
        return False


def _bids_scans(folder: Path) -> list[Path]:
    found = sorted(folder.glob("sub-*/anat/*_T1w.nii*")) + sorted(folder.glob("sub-*/ses-*/anat/*_T1w.nii*"))
    return sorted(found)


def collect_inputs(paths: list[str | Path]) -> list[ScanInput]:
    """Expand files, folders (recursively) and BIDS datasets into scans with unique names.

    A folder whose files are DICOM slices is one scan. A file named explicitly is always taken
    (so the batch reports it if it is not a scan); inside folders, files with an image suffix.
    """
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            if _is_bids(path):
                found.extend(_bids_scans(path))
            else:
                found.extend(_scan_folder(path))
        else:
            found.append(path)
    scans: list[ScanInput] = []
    used: dict[str, int] = {}
    for path in found:
        base = re.sub(r"[^A-Za-z0-9._-]+", "_", _stem(path)) or "scan"
        count = used.get(base, 0)
        used[base] = count + 1
        scans.append(ScanInput(base if count == 0 else f"{base}_{count + 1}", path))
    return scans


def _scan_folder(folder: Path) -> list[Path]:
    if _looks_like_dicom_folder(folder):
        return [folder]
    out: list[Path] = []
    for child in sorted(folder.iterdir()):
        if child.name.startswith("."):
            continue
        if child.is_dir():
            out.extend(_scan_folder(child))
        elif is_supported(child) and child.suffix.lower() not in _DICOM_SUFFIXES:
            out.append(child)  # a damaged .nii.gz is taken too: the batch reports it as failed
    return out
