"""Index a BIDS folder: ``sub-*/[ses-*/]anat/*_T1w.nii[.gz]``, ``participants.tsv`` and masks.

Masks are looked up in ``derivatives/*/sub-*/[ses-*/]anat/`` as ``*hippocampus*_mask*.nii[.gz]``
or ``*_dseg.nii[.gz]`` (the first match, sorted, for the same subject and session).
"""

from __future__ import annotations

import csv
from pathlib import Path

from volta_core.data.labels import UnknownLabelError, normalise_diagnosis, normalise_sex
from volta_core.data.manifest import ManifestError
from volta_core.data.records import IndexedDataset, SampleRecord

SEX_COLUMNS = ("sex", "gender", "ptgender")
DIAGNOSIS_COLUMNS = ("diagnosis", "dx", "group", "dx_bl", "diagnosis_group")


def _nifti(path: Path) -> bool:
    return path.name.endswith((".nii", ".nii.gz"))


def read_tsv(path: Path) -> list[dict[str, str]]:
    """Rows of a tab-separated file as dicts with lower-cased column names.

    Raises:
        ManifestError: the file cannot be read or is not UTF-8 text (the message names it).
    """
    from volta_core.data.manifest import ManifestError

    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh, delimiter="\t")
            return [{(k or "").strip().lower(): (v or "").strip() for k, v in row.items()} for row in reader]
    except UnicodeDecodeError as exc:
        raise ManifestError(f"cannot read {path}: it is not UTF-8 text (byte {exc.start} is invalid); "
                            "save it as UTF-8 and try again") from exc
    except (OSError, csv.Error) as exc:
        raise ManifestError(f"cannot read {path}: {exc}") from exc


def _first_column(row: dict[str, str], names: tuple[str, ...]) -> str | None:
    for name in names:
        if name in row:
            return row[name]
    return None


def find_masks(root: Path, subject: str, session: str) -> list[Path]:
    """Candidate mask files for one subject/session under ``derivatives/``."""
    found: list[Path] = []
    for pipeline in sorted((root / "derivatives").glob("*")):
        anat = pipeline / subject / session / "anat" if session else pipeline / subject / "anat"
        if not anat.is_dir():
            continue
        for f in sorted(anat.iterdir()):
            if not _nifti(f):
                continue
            name = f.name.lower()
            if ("hippocampus" in name and "_mask" in name) or "_dseg." in name:
                found.append(f)
    return found


def index_bids(root: str | Path) -> IndexedDataset:
    """Find every T1w scan of a BIDS folder with its labels and mask.

    Unknown label spellings and duplicated participants are collected in ``label_issues``
    (reported by :func:`volta_core.data.validate.validate_dataset`), never raised here.
    """
    root = Path(root)
    issues: list[tuple[str, str, str]] = []
    participants: dict[str, dict[str, str]] = {}
    tsv = root / "participants.tsv"
    if tsv.is_file():
        for row in read_tsv(tsv):
            pid = row.get("participant_id", "")
            if not pid:
                continue
            pid = pid if pid.startswith("sub-") else f"sub-{pid}"
            if pid in participants:
                issues.append(("duplicate_subject", pid, f"{pid} appears more than once in participants.tsv"))
            participants[pid] = row
    records: list[SampleRecord] = []
    for sub_dir in sorted(p for p in root.glob("sub-*") if p.is_dir()):
        subject = sub_dir.name
        sessions = sorted(p for p in sub_dir.glob("ses-*") if p.is_dir()) or [sub_dir]
        for ses_dir in sessions:
            session = ses_dir.name if ses_dir != sub_dir else ""
            anat = ses_dir / "anat"
            images = sorted(f for f in anat.glob("*_T1w.nii*") if _nifti(f)) if anat.is_dir() else []
            for image in images:
                masks = find_masks(root, subject, session)
                rec = SampleRecord(subject=subject, image=image, mask=masks[0] if masks else None,
                                   session=session)
                _attach_labels(rec, participants.get(subject), issues)
                records.append(rec)
    for pid in sorted(set(participants) - {r.subject for r in records}):
        issues.append(("missing_file", pid, f"{pid} is listed in participants.tsv but has no anat/*_T1w.nii[.gz]"))
    return IndexedDataset(root=root, kind="bids", records=records, label_issues=issues)


def _attach_labels(rec: SampleRecord, row: dict[str, str] | None,
                   issues: list[tuple[str, str, str]]) -> None:
    if row is None:
        return
    raw_sex = _first_column(row, SEX_COLUMNS)
    raw_dx = _first_column(row, DIAGNOSIS_COLUMNS)
    rec.raw = {"sex": raw_sex or "", "diagnosis": raw_dx or ""}
    try:
        rec.sex = normalise_sex(raw_sex)
    except UnknownLabelError as exc:
        issues.append(("unknown_label", rec.subject, str(exc)))
    try:
        rec.diagnosis = normalise_diagnosis(raw_dx)
    except UnknownLabelError as exc:
        issues.append(("unknown_label", rec.subject, str(exc)))
