"""Intake of the recipe's real-data folders: individual label maps and real T1 scans.

Two kinds of folder feed the model recipe (``scripts/build_model.py``); neither is shipped,
downloaded or copied into the repository (the README says where to get them):

* **label maps** - whole-head label maps in the FreeSurfer protocol, one subject per file,
  e.g. SynthSeg's ``data/training_label_maps/training_seg_01..20.nii.gz`` (Apache-2.0).
  Hippocampus 17/53, amygdala 18/54, inferior lateral ventricle 5/44; extra-cerebral labels
  (>= 500) are allowed and become head tissue.
* **real T1 scans** - a BIDS folder (``sub-*/anat/*_T1w.nii[.gz]``) with ``participants.tsv``
  giving age and sex (``sex`` or ``gender``: m/f), e.g. OpenNeuro ds002748 (CC0).

:func:`check_label_maps` and :func:`check_t1_folder` read only headers (plus each label map's
label set) and report **every** problem at once, so a user fixes a folder in one go.
This module is torch-free.
"""

from __future__ import annotations

import csv
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

NIFTI_SUFFIXES = (".nii", ".nii.gz", ".mgz")
REQUIRED_LABELS = {17: "left hippocampus", 53: "right hippocampus"}
STRUCTURE_LABELS = {18: "left amygdala", 54: "right amygdala", 5: "left inferior lateral ventricle",
                    44: "right inferior lateral ventricle"}
EXTRA_CEREBRAL_MIN = 500


class RealDataError(ValueError):
    """A recipe data folder is missing or unusable; the message lists every problem."""


@dataclass
class FolderReport:
    """What was found in a data folder and everything wrong with it.

    Attributes:
        root: the folder.
        kind: ``"label maps"`` or ``"T1 scans"``.
        files: the usable files, sorted.
        problems: one line per problem (file named).
        digest: short hash of the usable files' names and sizes (recorded in model cards
            instead of paths or subject ids).
    """

    root: Path
    kind: str
    files: list[Path] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    digest: str = ""

    @property
    def ok(self) -> bool:
        return bool(self.files) and not self.problems

    def raise_if_bad(self) -> None:
        """Raise :class:`RealDataError` listing every problem."""
        if self.ok:
            return
        lines = self.problems or [f"no {self.kind} found"]
        raise RealDataError(f"{self.kind} folder {self.root} is not usable ({len(lines)} problem(s)):\n  - "
                            + "\n  - ".join(lines))


def _is_image(path: Path) -> bool:
    return path.is_file() and path.name.lower().endswith(NIFTI_SUFFIXES)


def _digest(files: list[Path]) -> str:
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode())
        h.update(str(f.stat().st_size).encode())
    return h.hexdigest()[:16]


_MAP_CHECKS: dict[tuple[str, int, int], str | None] = {}  # (path, size, mtime) -> problem or None


def _check_one_map(path: Path) -> str | None:
    """The problem with one label map, or None (remembered per file version: maps are big)."""
    import nibabel as nib

    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key in _MAP_CHECKS:
        return _MAP_CHECKS[key]
    problem: str | None = None
    try:
        image = nib.load(str(path))
        if len(image.shape) != 3:
            problem = f"{path.name}: {len(image.shape)}D, a label map must be 3D"
        else:
            data = np.asarray(image.dataobj)
            if not np.issubdtype(data.dtype, np.integer) and not np.allclose(data, np.round(data)):
                problem = f"{path.name}: not a label map (non-integer values)"
            else:
                labels = set(np.unique(data.astype(np.int64)).tolist())
                missing = [f"{k} ({v})" for k, v in REQUIRED_LABELS.items() if k not in labels]
                zooms = image.header.get_zooms()[:3]
                if missing:
                    problem = f"{path.name}: no {', '.join(missing)} - is it a FreeSurfer-protocol map?"
                elif max(zooms) > 1.6:
                    problem = f"{path.name}: voxels of {max(zooms):.1f} mm; label maps must be about 1 mm"
    except Exception as exc:  # nibabel raises many types for damaged files
        problem = f"{path.name}: unreadable ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"
    _MAP_CHECKS[key] = problem
    return problem


def check_label_maps(folder: str | Path, *, min_maps: int = 2) -> FolderReport:
    """Validate a folder of individual FreeSurfer-protocol label maps.

    Args:
        folder: the folder (searched recursively for ``.nii``, ``.nii.gz``, ``.mgz``).
        min_maps: fewer usable maps than this is a problem.

    Returns:
        A :class:`FolderReport` (call ``raise_if_bad()`` to stop on problems).
    """
    root = Path(folder)
    report = FolderReport(root, "label maps")
    if not root.is_dir():
        report.problems.append(f"{root} is not a folder")
        return report
    candidates = sorted(p for p in root.rglob("*") if _is_image(p))
    for path in candidates:
        problem = _check_one_map(path)
        if problem:
            report.problems.append(problem)
        else:
            report.files.append(path)
    if not candidates:
        report.problems.append(f"no .nii/.nii.gz/.mgz files in {root}")
    elif len(report.files) < min_maps and not report.problems:
        report.problems.append(f"only {len(report.files)} usable label map(s); at least {min_maps} are needed")
    if report.files:
        report.digest = _digest(report.files)
    return report


def _subject_of(path: Path) -> str:
    match = re.search(r"(sub-[A-Za-z0-9]+)", path.name)
    return match.group(1) if match else path.name.split(".")[0]


def find_t1_scans(folder: str | Path) -> list[tuple[str, Path]]:
    """``(subject, path)`` of the T1 scans of a BIDS folder (or of any NIfTI files in it), sorted."""
    root = Path(folder)
    bids = sorted(p for p in root.glob("sub-*/**/anat/*_T1w.nii*") if _is_image(p))
    if not bids:
        bids = sorted(p for p in root.rglob("*") if _is_image(p))
    return [(_subject_of(p), p) for p in bids]


def read_participants(folder: str | Path) -> dict[str, dict[str, str]]:
    """Rows of ``participants.tsv`` by participant id (empty if there is none).

    Raises:
        RealDataError: the file exists but cannot be read as UTF-8 TSV (the file is named).
    """
    path = Path(folder) / "participants.tsv"
    if not path.is_file():
        return {}
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.DictReader(handle, delimiter="\t"))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise RealDataError(f"{path}: cannot be read as UTF-8 tab-separated text ({exc}); "
                            "save it as UTF-8 TSV") from exc
    return {row.get("participant_id", ""): row for row in rows if row.get("participant_id")}


def sex_of(row: dict[str, str]) -> str | None:
    """``"M"``, ``"F"`` or None from a participants row (``sex`` or ``gender`` column)."""
    value = (row.get("sex") or row.get("gender") or "").strip().lower()
    if value in ("m", "male", "1"):
        return "M"
    if value in ("f", "female", "0"):
        return "F"
    return None


def check_t1_folder(folder: str | Path, *, need_sex: bool = False) -> FolderReport:
    """Validate a BIDS folder of real T1 scans (headers only).

    Args:
        folder: the BIDS root.
        need_sex: every scan's subject must have a sex in ``participants.tsv``.

    Returns:
        A :class:`FolderReport`.
    """
    import nibabel as nib

    root = Path(folder)
    report = FolderReport(root, "T1 scans")
    if not root.is_dir():
        report.problems.append(f"{root} is not a folder")
        return report
    try:
        participants = read_participants(root)
    except RealDataError as exc:
        report.problems.append(str(exc))
        participants = {}
    if need_sex and not participants:
        report.problems.append(f"no participants.tsv in {root}: sex labels are needed")
    scans = find_t1_scans(root)
    if not scans:
        report.problems.append(f"no T1 scans (sub-*/anat/*_T1w.nii.gz) in {root}")
    for subject, path in scans:
        try:
            header = nib.load(str(path)).header
            shape = header.get_data_shape()
        except Exception as exc:
            report.problems.append(f"{path.name}: unreadable ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})")
            continue
        if len(shape) != 3 and not (len(shape) == 4 and shape[3] == 1):
            report.problems.append(f"{path.name}: shape {tuple(shape)}, a T1 scan must be 3D")
            continue
        if need_sex and participants and sex_of(participants.get(subject, {})) is None:
            report.problems.append(f"{path.name}: {subject} has no sex (m/f) in participants.tsv")
            continue
        report.files.append(path)
    if report.files:
        report.digest = _digest(report.files)
    return report
