"""Turn the paths a user gives ``volta predict`` into a list of scans: files, folders, BIDS.

Only regular files are ever opened here (a FIFO or a device named like a scan would block or
never end); they are passed on as explicit inputs so the batch reports them. A folder that
cannot be listed becomes an input with a ``problem``: reported as failed, the batch goes on.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from volta_core.io import is_supported
from volta_core.io.atomic import describe_os_error

_DICOM_SUFFIXES = {".dcm", ".ima"}
_IMAGE_SUFFIXES = (".nii.gz", ".nii", ".mgz", ".mgh", ".nrrd", ".nhdr", ".mha", ".mhd")


@dataclass(frozen=True)
class ScanInput:
    """One scan to predict on.

    Attributes:
        name: the scan's name (file name without its image ending, or the folder name); the
            results store turns it into a unique output stem.
        path: the path as found.
        key: the resolved absolute path: the scan's identity across runs.
        problem: why the input cannot even be tried (an unreadable folder), else ``None``.
    """

    name: str
    path: Path
    key: str = ""
    problem: str | None = None

    def __post_init__(self) -> None:
        if not self.key:
            object.__setattr__(self, "key", scan_key(self.path))


def scan_key(path: Path) -> str:
    """The identity of an input across runs: its absolute path with symlinks resolved."""
    return os.path.realpath(os.path.abspath(path))


def scan_name(path: Path) -> str:
    name = path.name or path.resolve().name
    for suffix in _IMAGE_SUFFIXES + tuple(_DICOM_SUFFIXES):
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def _regular_files_and_folders(folder: Path) -> tuple[list[Path], list[Path]]:
    """Visible regular files and sub-folders of ``folder``, sorted; raises ``OSError``."""
    files: list[Path] = []
    folders: list[Path] = []
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.startswith("."):
                continue
            try:
                mode = entry.stat().st_mode  # follows symlinks
            except OSError:
                files.append(Path(entry.path))  # a dangling link: reported by the batch
                continue
            if stat.S_ISDIR(mode):
                folders.append(Path(entry.path))
            elif stat.S_ISREG(mode):
                files.append(Path(entry.path))
            # FIFOs, sockets and devices inside folders are never scans: skipped
    return sorted(files), sorted(folders)


def _has_dicom_magic(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            handle.seek(128)
            return handle.read(4) == b"DICM"
    except OSError:
        return False


def _is_bids(folder: Path) -> bool:
    return (folder / "dataset_description.json").is_file() or any(folder.glob("sub-*/anat")) or any(
        folder.glob("sub-*/ses-*/anat"))


def _bids_scans(folder: Path) -> list[Path]:
    found = sorted(folder.glob("sub-*/anat/*_T1w.nii*")) + sorted(folder.glob("sub-*/ses-*/anat/*_T1w.nii*"))
    return sorted(p for p in found if p.is_file())


def collect_inputs(paths: list[str | Path]) -> list[ScanInput]:
    """Expand files, folders (recursively) and BIDS datasets into scans, in a stable order.

    A folder whose files are all DICOM slices is one scan. A file named explicitly is always
    taken (so the batch reports it if it is not a scan); inside folders, regular files with an
    image ending. A stray ``.dcm`` among NIfTI files does not turn the folder into a DICOM
    series: the images are taken one by one and the ``.dcm`` file is named too, so the batch
    reports it. The same scan reached twice is taken once.
    """
    found: list[ScanInput] = []
    for raw in paths:
        path = Path(raw)
        try:
            is_dir = path.is_dir()
        except OSError:  # e.g. a path below a folder we may not search
            is_dir = False
        if is_dir:
            try:
                bids = _bids_scans(path) if _is_bids(path) else None
            except OSError as exc:
                found.append(_unreadable(path, exc))
                continue
            if bids is not None:
                found.extend(ScanInput(scan_name(p), p) for p in bids)
            else:
                _scan_folder(path, found)
        else:
            found.append(ScanInput(scan_name(path), path))
    unique: dict[str, ScanInput] = {}
    for scan in found:
        unique.setdefault(scan.key, scan)
    return list(unique.values())


def _unreadable(folder: Path, exc: OSError) -> ScanInput:
    return ScanInput(scan_name(folder), folder,
                     problem=f"the folder '{folder}' could not be listed ({describe_os_error(exc)}); it was skipped")


def _scan_folder(folder: Path, out: list[ScanInput]) -> None:
    """Append the scans under ``folder``; folders that cannot be listed become failed inputs."""
    try:
        files, folders = _regular_files_and_folders(folder)
    except OSError as exc:
        out.append(_unreadable(folder, exc))
        return
    images = [f for f in files if is_supported(f) and f.suffix.lower() not in _DICOM_SUFFIXES]
    dicom = [f for f in files if f.suffix.lower() in _DICOM_SUFFIXES
             or (not is_supported(f) and _has_dicom_magic(f))]
    if dicom and not images:
        if any(f.suffix.lower() in _DICOM_SUFFIXES for f in dicom) or all(_has_dicom_magic(f) for f in files[:3]):
            out.append(ScanInput(scan_name(folder), folder))
            return
    out.extend(ScanInput(scan_name(f), f) for f in images)  # a damaged .nii.gz is taken: the batch reports it
    if dicom and images:
        # DICOM slices next to other scans: a real series belongs in its own folder; name each so
        # the batch says what they are instead of silently dropping the folder's scans
        out.extend(ScanInput(scan_name(f), f) for f in dicom if f.suffix.lower() in _DICOM_SUFFIXES)
    for child in folders:
        _scan_folder(child, out)
