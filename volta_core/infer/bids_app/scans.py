"""The T1w scans of a BIDS dataset, as the BIDS App sees them.

A scan is ``sub-<label>/[ses-<label>/]anat/<name>_T1w.nii[.gz]``, or a folder
``anat/<name>_T1w/`` holding one DICOM series (not BIDS-valid, but labs keep such folders; the
reader takes them). Scans are listed in one deterministic order (by scan id, then path), so every
shard of a run computes the same list and takes its own part of it.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

T1W_SUFFIX = "_T1w"
_NIFTI_ENDINGS = (".nii.gz", ".nii")


class BidsInputError(ValueError):
    """The BIDS dataset, a label filter or ``participants.tsv`` cannot be used (message says what to do)."""


@dataclass(frozen=True)
class BidsScan:
    """One T1w scan of the dataset.

    Attributes:
        scan_id: the file name without its ending, e.g. ``sub-01_ses-1_run-1_T1w``.
        path: where it is.
        relative: its path relative to the dataset, POSIX style (``sub-01/anat/...``).
        subject: ``sub-01``.
        session: ``ses-1`` or ``""``.
        entities: every ``key-value`` of the name, in order (``{"sub": "01", "ses": "1", "run": "1"}``).
    """

    scan_id: str
    path: Path
    relative: str
    subject: str
    session: str = ""
    entities: dict[str, str] = field(default_factory=dict)

    @property
    def folder(self) -> str:
        """``sub-01`` or ``sub-01/ses-1``: where the scan's derivatives go."""
        return f"{self.subject}/{self.session}" if self.session else self.subject


def parse_entities(scan_id: str) -> dict[str, str]:
    """``sub-01_ses-1_run-1_T1w`` -> ``{"sub": "01", "ses": "1", "run": "1"}`` (the suffix is left out)."""
    entities: dict[str, str] = {}
    for part in scan_id.split("_"):
        key, sep, value = part.partition("-")
        if sep and key and value:
            entities.setdefault(key, value)
    return entities


def normalise_labels(labels: Iterable[str] | None, prefix: str) -> list[str]:
    """``["01", "sub-02"]`` -> ``["sub-01", "sub-02"]`` (prefix ``sub-``), sorted, without repeats."""
    out = set()
    for label in labels or []:
        text = str(label).strip()
        if text:
            out.add(text if text.startswith(prefix) else f"{prefix}{text}")
    return sorted(out)


def _scan_id(name: str) -> str | None:
    for ending in _NIFTI_ENDINGS:
        if name.endswith(ending) and name[: -len(ending)].endswith(T1W_SUFFIX):
            return name[: -len(ending)]
    return None


def _scans_in(anat: Path, root: Path, subject: str, session: str) -> list[BidsScan]:
    found: list[BidsScan] = []
    try:
        entries = sorted(os.scandir(anat), key=lambda e: e.name)
    except OSError as exc:
        raise BidsInputError(f"the folder '{anat}' cannot be listed ({exc.strerror or exc}); "
                             "check its permissions") from exc
    for entry in entries:
        if entry.name.startswith("."):
            continue
        scan_id = _scan_id(entry.name)
        if scan_id is None and entry.name.endswith(T1W_SUFFIX) and entry.is_dir():
            scan_id = entry.name  # a DICOM series folder
        if scan_id is None:
            continue
        path = Path(entry.path)
        found.append(BidsScan(scan_id=scan_id, path=path, relative=path.relative_to(root).as_posix(),
                              subject=subject, session=session, entities=parse_entities(scan_id)))
    return found


def find_scans(root: str | Path, *, participants: Iterable[str] | None = None,
               sessions: Iterable[str] | None = None) -> list[BidsScan]:
    """Every T1w scan of the dataset that passes the filters, in the deterministic order.

    Args:
        root: the BIDS dataset.
        participants: participant labels (with or without ``sub-``); all when empty.
        sessions: session labels (with or without ``ses-``); all when empty.

    Raises:
        BidsInputError: ``root`` is not a folder with ``sub-*`` folders, or a label matches
            nothing (the message lists the labels that exist).
    """
    root = Path(root)
    if not root.is_dir():
        raise BidsInputError(f"the BIDS dataset '{root}' is not a folder; pass the dataset's top folder "
                             "(the one with dataset_description.json and the sub-* folders)")
    try:
        subjects = sorted(p.name for p in os.scandir(root) if p.name.startswith("sub-") and p.is_dir())
    except OSError as exc:
        raise BidsInputError(f"the BIDS dataset '{root}' cannot be listed ({exc.strerror or exc})") from exc
    if not subjects:
        raise BidsInputError(f"'{root}' has no sub-* folders: it is not a BIDS dataset (pass the dataset's "
                             "top folder, or list scan files and folders with --out DIR instead)")
    wanted = normalise_labels(participants, "sub-")
    unknown = [label for label in wanted if label not in subjects]
    if unknown:
        raise BidsInputError(f"participant label(s) not in '{root}': {', '.join(unknown)} "
                             f"(it has {_some(subjects)})")
    wanted_sessions = normalise_labels(sessions, "ses-")
    scans: list[BidsScan] = []
    seen_sessions: set[str] = set()
    for subject in wanted or subjects:
        sub_dir = root / subject
        session_dirs = sorted(p.name for p in sub_dir.glob("ses-*") if p.is_dir())
        seen_sessions.update(session_dirs)
        for session in session_dirs or [""]:
            if wanted_sessions and session not in wanted_sessions:
                continue
            anat = sub_dir / session / "anat" if session else sub_dir / "anat"
            if anat.is_dir():
                scans.extend(_scans_in(anat, root, subject, session))
    missing_sessions = [s for s in wanted_sessions if s not in seen_sessions]
    if missing_sessions:
        raise BidsInputError(f"session label(s) not in '{root}' for the chosen participants: "
                             f"{', '.join(missing_sessions)} (found {_some(sorted(seen_sessions)) or 'no sessions'})")
    return sorted(scans, key=lambda s: (s.scan_id, s.relative))


def _some(names: list[str], limit: int = 8) -> str:
    return ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")


def read_participants(root: str | Path) -> tuple[list[str], dict[str, dict[str, str]]]:
    """``participants.tsv``: its columns (without ``participant_id``) and one row per participant.

    A missing file gives no columns and no rows; values ``n/a`` stay as they are.

    Raises:
        BidsInputError: the file exists but is not UTF-8 text or has no ``participant_id`` column.
    """
    path = Path(root) / "participants.tsv"
    if not path.is_file():
        return [], {}
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle, delimiter="\t")
            header = [(name or "").strip() for name in (reader.fieldnames or [])]
            rows = [{(k or "").strip(): (v or "").strip() for k, v in row.items() if k is not None} for row in reader]
    except UnicodeDecodeError as exc:
        raise BidsInputError(f"cannot read {path}: it is not UTF-8 text (byte {exc.start} is invalid); "
                             "save it as UTF-8 and try again") from exc
    except (OSError, csv.Error) as exc:
        raise BidsInputError(f"cannot read {path}: {exc}") from exc
    if "participant_id" not in header:
        raise BidsInputError(f"{path} has no participant_id column (its columns: {', '.join(header) or 'none'})")
    table: dict[str, dict[str, str]] = {}
    for row in rows:
        pid = row.get("participant_id", "")
        if pid:
            table.setdefault(pid if pid.startswith("sub-") else f"sub-{pid}", row)
    return [name for name in header if name != "participant_id"], table
