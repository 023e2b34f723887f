"""Index a CSV (or tab-separated ``.tsv``) manifest with columns ``subject, image, mask, sex,
diagnosis`` (+ optional ``session``).

A ``.tsv`` manifest is read tab-separated, any other comma-separated. Relative paths are resolved against the manifest's folder. ``mask``, ``sex`` and ``diagnosis``
may be empty.
"""

from __future__ import annotations

import csv
from pathlib import Path

from volta_core.data.labels import UnknownLabelError, is_missing, normalise_diagnosis, normalise_sex
from volta_core.data.records import IndexedDataset, SampleRecord

REQUIRED_COLUMNS = ("subject", "image")


class ManifestError(ValueError):
    """The manifest itself cannot be used (unreadable, or required columns missing)."""


def index_manifest(path: str | Path) -> IndexedDataset:
    """Read a CSV manifest (tab-separated when it ends in ``.tsv``) into sample records; label
    problems are collected, not raised.

    Raises:
        ManifestError: the file cannot be read or lacks the ``subject``/``image`` columns.
    """
    path = Path(path)
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = [{(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
                    for row in csv.DictReader(fh, delimiter=delimiter)]
    except UnicodeDecodeError as exc:
        raise ManifestError(f"cannot read manifest {path}: it is not UTF-8 text (byte {exc.start} is invalid); "
                            "save it as UTF-8 and try again") from exc
    except (OSError, csv.Error) as exc:
        raise ManifestError(f"cannot read manifest {path}: {exc}") from exc
    if rows and any(c not in rows[0] for c in REQUIRED_COLUMNS):
        raise ManifestError(f"manifest {path} needs the columns {', '.join(REQUIRED_COLUMNS)}; "
                            f"found {', '.join(rows[0])}")
    issues: list[tuple[str, str, str]] = []
    records: list[SampleRecord] = []
    seen: set[str] = set()
    for i, row in enumerate(rows, start=2):
        subject = row.get("subject", "")
        if not subject:
            issues.append(("missing_label", f"line {i}", f"line {i} of {path.name} has no subject"))
            continue
        image = row.get("image", "")
        mask = row.get("mask", "")
        rec = SampleRecord(subject=subject, session=row.get("session", ""),
                           image=_resolve(path.parent, image) if image else path.parent / f"<no image for {subject}>",
                           mask=None if is_missing(mask) else _resolve(path.parent, mask),
                           raw={"sex": row.get("sex", ""), "diagnosis": row.get("diagnosis", "")})
        if rec.key in seen:
            issues.append(("duplicate_subject", subject, f"{rec.key} appears more than once in {path.name}"))
        seen.add(rec.key)
        for name, fn in (("sex", normalise_sex), ("diagnosis", normalise_diagnosis)):
            try:
                setattr(rec, name, fn(row.get(name)))
            except UnknownLabelError as exc:
                issues.append(("unknown_label", subject, str(exc)))
        records.append(rec)
    return IndexedDataset(root=path.parent, kind="manifest", records=records, label_issues=issues)


def _resolve(base: Path, value: str) -> Path:
    p = Path(value).expanduser()
    return p if p.is_absolute() else base / p


def index_dataset(path: str | Path) -> IndexedDataset:
    """A BIDS folder or a ``.csv`` manifest, chosen by what the path is."""
    from volta_core.data.bids import index_bids

    path = Path(path)
    if path.is_dir():
        return index_bids(path)
    if path.suffix.lower() in (".csv", ".tsv") and path.is_file():
        return index_manifest(path)
    raise ManifestError(f"{path} is neither a BIDS folder nor a CSV manifest")
