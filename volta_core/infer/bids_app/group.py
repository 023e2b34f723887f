"""``volta predict BIDS_DIR OUT_DIR group``: every record merged into ``OUT/volumes.tsv``.

One row per scan of the dataset (after the label filters), sorted by scan id, with the
participant's columns from ``participants.tsv`` (``age``, ``sex`` and ``group`` always, empty as
``n/a`` when the file lacks them, then every other column), every volume, HOC, ICV, probability
and QC flag, the status (``ok``, ``failed`` or ``missing``) and the reviewer's marks
(``qc_rating``, ``qc_note``) from ``OUT/qc_marks.tsv`` or ``--qc-marks FILE``. Scans without a
finished record and participants without a scan are rows with status ``missing``, printed too;
nothing stops the merge. Columns that differ between identical runs (seconds, device, absolute
paths) are left out, so one run, shards and torchrun ranks give the same file.

It also writes the QC gallery (``OUT/qc/index.html``) and the group report
(``OUT/group_report.html``/``.pdf``) through :mod:`volta_core.report`.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path
from typing import Any

from volta_core.infer.bids_app.derivatives import write_dataset_description
from volta_core.infer.bids_app.participant import LAYOUT
from volta_core.infer.bids_app.scans import (
    BidsInputError,
    BidsScan,
    find_scans,
    normalise_labels,
    parse_entities,
    read_participants,
)
from volta_core.infer.export import one_line
from volta_core.infer.inputs import scan_key
from volta_core.infer.results_store import RECORDS_DIR, STATUS_FAILED, STATUS_OK, ResultsStore, ScanRecord
from volta_core.io import VolumeWriteError
from volta_core.io.atomic import write_text_atomically

VOLUMES_FILE = "volumes.tsv"
MARKS_FILE = "qc_marks.tsv"
STATUS_MISSING = "missing"
PARTICIPANT_COLUMNS = ("age", "sex", "group")
#: the numbers of a record's row that go into volumes.tsv, in this order
MEASURES = (
    "hippocampus_left_ml", "hippocampus_right_ml", "hippocampus_total_ml", "icv_ml", "asymmetry_index",
    "amygdala_left_ml", "amygdala_right_ml", "inferior_lateral_ventricle_left_ml",
    "inferior_lateral_ventricle_right_ml", "hoc_left", "hoc_right", "p_sex_male", "p_ad",
    "registration_quality", "ood_score",
)
TEXT_FIELDS = ("participant_id", "session_id", "scan_id", "status", "error", "qc_warnings", "qc_rating", "qc_note",
               "model", "model_hash", "tta", "source", "dseg", "qc_png")


def run_group(args: argparse.Namespace, bids_dir: Path, out_dir: Path) -> int:
    """The group stage; returns the exit status (0 written, 1 no scan succeeded, 2 bad input)."""
    if not (out_dir / RECORDS_DIR).is_dir():
        print(f"error: '{out_dir}' holds no participant results; run 'volta predict {bids_dir} {out_dir} "
              "participant' first", file=sys.stderr)
        return 2
    try:
        scans = find_scans(bids_dir, participants=args.participant_label, sessions=args.session_label)
        columns, participants = read_participants(bids_dir)
        marks = _read_marks(args.qc_marks or (out_dir / MARKS_FILE), required=args.qc_marks is not None)
        store = ResultsStore(out_dir)
        header, rows = merge(scans, store.records(), columns, participants, marks,
                             participant_labels=normalise_labels(args.participant_label, "sub-"),
                             session_labels=normalise_labels(args.session_label, "ses-"))
    except (BidsInputError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        with store.locked():
            write_text_atomically(out_dir / VOLUMES_FILE, to_tsv(header, rows))
        if not (out_dir / "dataset_description.json").is_file():
            done = [r for r in store.records() if r.status == STATUS_OK and r.options.get("layout") == LAYOUT]
            write_dataset_description(out_dir, model_name=done[0].model if done else "",
                                      model_hash=done[0].model_hash if done else "", source=bids_dir)
    except VolumeWriteError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    counts = {status: sum(r["status"] == status for r in rows) for status in (STATUS_OK, STATUS_FAILED, STATUS_MISSING)}
    print(f"volta group: {len(rows)} row(s): {counts[STATUS_OK]} ok, {counts[STATUS_FAILED]} failed, "
          f"{counts[STATUS_MISSING]} missing -> {out_dir / VOLUMES_FILE}", file=sys.stderr)
    for row in rows:
        if row["status"] != STATUS_OK:
            name = row["scan_id"] if row["scan_id"] != "n/a" else row["participant_id"]
            print(f"  {row['status']}: {name}: {row['error']}", file=sys.stderr)
    _write_pages(out_dir, header, rows)
    return 0 if counts[STATUS_OK] else 1


def _read_marks(path: Path, *, required: bool) -> dict[str, dict[str, str]]:
    if not Path(path).is_file():
        if required:
            raise ValueError(f"the QC marks file '{path}' does not exist (export it from the gallery's "
                             "'Export marks' button)")
        return {}
    try:
        from volta_core.report.gallery import read_marks
    except ImportError:
        print(f"warning: volta_core.report is not installed: the marks in '{path}' are not joined",
              file=sys.stderr)
        return {}
    return read_marks(Path(path))


def _participant_of(record: ScanRecord) -> tuple[str, str]:
    entities = parse_entities(record.stem)
    subject = f"sub-{entities['sub']}" if "sub" in entities else ""
    session = f"ses-{entities['ses']}" if "ses" in entities else ""
    return subject, session


def merge(scans: list[BidsScan], records: list[ScanRecord], columns: list[str],
          participants: dict[str, dict[str, str]], marks: dict[str, dict[str, str]], *,
          participant_labels: list[str] | None = None,
          session_labels: list[str] | None = None) -> tuple[list[str], list[dict[str, str]]]:
    """The header and rows of ``volumes.tsv`` (values as text, ``n/a`` for missing ones)."""
    extra = [c for c in columns if c not in PARTICIPANT_COLUMNS]
    renamed = {c: (f"participant_{c}" if c in TEXT_FIELDS or c in MEASURES else c) for c in extra}
    header = ["participant_id", "session_id", "scan_id", *PARTICIPANT_COLUMNS, *renamed.values(), "status",
              "error", *MEASURES, "qc_warnings", "qc_rating", "qc_note", "model", "model_hash", "tta", "source",
              "dseg", "qc_png"]
    by_key = {r.key: r for r in records}
    rows: list[dict[str, str]] = []
    seen_subjects: set[str] = set()
    used: set[str] = set()
    for scan in scans:
        record = by_key.get(scan_key(scan.path))
        if record is not None:
            used.add(record.key)
        rows.append(_row(record, scan.subject, scan.session, scan.scan_id, scan.relative))
        seen_subjects.add(scan.subject)
    for record in records:  # records of scans no longer in the dataset are kept, not dropped
        if record.key in used or record.options.get("layout") != LAYOUT:
            continue
        subject, session = _participant_of(record)
        if ((participant_labels and subject not in participant_labels)
                or (session_labels and session not in session_labels)):
            continue
        rows.append(_row(record, subject, session, record.stem, record.source))
        seen_subjects.add(subject)
    for pid in sorted(participants):
        if pid not in seen_subjects and (not participant_labels or pid in participant_labels):
            row = {name: "" for name in header}
            row.update(participant_id=pid, status=STATUS_MISSING,
                       error="listed in participants.tsv but has no anat/*_T1w scan in the dataset")
            rows.append(row)
    for row in rows:
        info = participants.get(row["participant_id"], {})
        for name in PARTICIPANT_COLUMNS:
            row[name] = info.get(name, "")
        for name, new_name in renamed.items():
            row[new_name] = info.get(name, "")
        mark = marks.get(row["scan_id"], {})
        row["qc_rating"], row["qc_note"] = mark.get("qc_rating", ""), one_line(mark.get("qc_note", ""))
    rows.sort(key=lambda r: (r["participant_id"], r["session_id"], r["scan_id"]))
    return header, [{name: _cell(row.get(name, "")) for name in header} for row in rows]


def _row(record: ScanRecord | None, subject: str, session: str, scan_id: str, source: str) -> dict[str, str]:
    row: dict[str, str] = {"participant_id": subject, "session_id": session, "scan_id": scan_id, "source": source}
    if record is None or record.status not in (STATUS_OK, STATUS_FAILED) or record.options.get("layout") != LAYOUT:
        row["status"] = STATUS_MISSING
        row["error"] = ("started but not finished (the process was stopped?): run participant again"
                        if record is not None and record.status not in (STATUS_OK, STATUS_FAILED)
                        else "not processed yet: run participant for it")
        return row
    row["scan_id"] = record.stem
    row["status"] = record.status
    row["error"] = one_line(record.error)
    for name in (*MEASURES, "qc_warnings"):
        row[name] = str(record.row.get(name, ""))
    row["model"], row["model_hash"] = record.model, record.model_hash[:16]
    row["tta"] = "" if record.options.get("tta") is None else ("yes" if record.options.get("tta") else "no")
    row["dseg"] = next((name for name in record.outputs if name.endswith("_dseg.nii.gz")), "")
    row["qc_png"] = next((name for name in record.outputs if name.endswith("_qc.png")), "")
    return row


def _cell(value: Any) -> str:
    text = " ".join(str(value).replace("\t", " ").split())
    return text if text else "n/a"


def to_tsv(header: list[str], rows: list[dict[str, str]]) -> str:
    lines = ["\t".join(header)] + ["\t".join(row[name] for name in header) for row in rows]
    return "\n".join(lines) + "\n"


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan


def _typed(row: dict[str, str]) -> dict[str, Any]:
    """A row for the report package: numbers as floats (NaN when missing), the rest as text."""
    out: dict[str, Any] = {}
    for name, value in row.items():
        text = "" if value == "n/a" else value
        out[name] = _number(text) if name in MEASURES or name == "age" else text
    return out


def _write_pages(out_dir: Path, header: list[str], rows: list[dict[str, str]]) -> None:
    """The QC gallery and the group report (skipped with one warning without the report package)."""
    try:
        from volta_core.report.gallery import write_gallery
        from volta_core.report.group_report import write_group_report
    except ImportError:
        print("warning: volta_core.report is not installed: no QC gallery or group report", file=sys.stderr)
        return
    qc_dir = out_dir / "qc"
    table = [_typed(row) for row in rows]
    gallery_rows = []
    for row, typed in zip(rows, table):
        if not typed["scan_id"]:
            continue
        png = typed["qc_png"]
        warnings = [w for w in (typed["qc_warnings"] or "").split("; ") if w]
        if typed["status"] != STATUS_OK and typed["error"]:
            warnings = [typed["error"], *warnings]
        gallery_rows.append({**typed, "png": os.path.relpath(out_dir / png, qc_dir) if png else "",
                             "status": "ok" if typed["status"] == STATUS_OK else "failed", "warnings": warnings})
    try:
        qc_dir.mkdir(parents=True, exist_ok=True)
        write_gallery(qc_dir / "index.html", gallery_rows, title=f"VolTA-3D QC: {out_dir.name}")
        write_group_report(out_dir, table)
    except Exception as exc:  # noqa: BLE001 - the pages must never cost the user volumes.tsv
        print(f"warning: the QC gallery or group report could not be written: {type(exc).__name__}: {exc}",
              file=sys.stderr)


__all__ = ["MARKS_FILE", "VOLUMES_FILE", "merge", "run_group"]
