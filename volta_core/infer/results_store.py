"""Per-scan result records under an output folder, and ``results.csv`` rebuilt from them.

Layout of an output folder ``OUT``::

    OUT/records/<stem>.json               one record per scan (the source of truth)
    OUT/<stem>_hippocampus_mask.nii.gz    outputs of a scan that succeeded
    OUT/<stem>.json
    OUT/results.csv                       derived: one row per record, sorted by stem
    OUT/.results.lock                     serialises stem claims and CSV rebuilds between processes

Every file is written atomically (temporary file + ``os.replace`` in the same folder). A record
holds the scan's identity (its resolved path), the model it came from (hash of the bundle's
files), the options, the status with a one-line message, and the row's numbers. So a rerun with
other inputs, a second process writing into the same folder or a crash never drops a row: each
rebuild reads every record on disk.

Stems (the names of a scan's output files) are unique and stable:

- the first time a scan is seen, its stem is its name (file name without the image ending)
  when that name is already safe (``A-Z a-z 0-9 . _ -``, at most 100 characters, not starting
  with a dot) and no other scan holds it (compared case-insensitively, for case-insensitive
  file systems);
- otherwise (a name that had to be changed, or taken by another scan) it is the sanitised name
  followed by ``-`` and the first 8 hex digits of the SHA-256 of the scan's resolved path (16,
  then all 64 digits in the unlikely case that is taken too). ``a b.nii.gz`` thus becomes
  ``a_b-1f2e3d4c`` and can never meet ``a_b.nii.gz`` or ``a_b_2.nii.gz``;
- once given, a stem is kept in the scan's record and reused by every later run.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from volta_core.infer.export import CSV_COLUMNS, one_line, strict_json
from volta_core.io import VolumeWriteError
from volta_core.io.atomic import describe_os_error, remove_stale_temporaries, write_text_atomically

try:  # POSIX; elsewhere concurrent runs into one folder are not serialised
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

RECORDS_DIR = "records"
RESULTS_FILE = "results.csv"
LOCK_FILE = ".results.lock"
RECORD_VERSION = 1
#: results.csv: the columns of a single-scan export, then where the numbers came from.
RESULTS_COLUMNS = (*CSV_COLUMNS, "tta", "model_hash")
STATUS_OK, STATUS_FAILED, STATUS_PENDING = "ok", "failed", "pending"
_MAX_NAME = 100
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class OutputFolderError(VolumeWriteError):
    """The output folder cannot be used (it is a file, read-only, or cannot be created)."""


@dataclass
class ScanRecord:
    """What one scan produced, as stored in ``records/<stem>.json``.

    Attributes:
        key: the scan's resolved path, its identity across runs.
        stem: the name of its output files (unique in the folder, kept once given).
        source: the path as the user gave it.
        status: ``ok``, ``failed`` or ``pending`` (claimed, not finished; not in results.csv).
        error: why it failed, one line.
        model_hash: SHA-256 of the model bundle's files (:func:`bundle_hash`).
        model: the model's name.
        options: the options that change the numbers (e.g. ``{"tta": true}``).
        row: the ``results.csv`` row (strings), with every number.
        outputs: files of this scan in the output folder (names relative to it).
        notes: messages the readers and libraries gave while the scan was processed.
    """

    key: str
    stem: str
    source: str
    status: str = STATUS_PENDING
    error: str = ""
    model_hash: str = ""
    model: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    row: dict[str, str] = field(default_factory=dict)
    outputs: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    version: int = RECORD_VERSION

    @classmethod
    def from_dict(cls, data: Any) -> ScanRecord | None:
        """A record from its JSON form; ``None`` for anything malformed (it is then redone)."""
        if not isinstance(data, dict) or not isinstance(data.get("key"), str) or not isinstance(data.get("stem"), str):
            return None
        known = {f for f in cls.__dataclass_fields__}
        try:
            record = cls(**{k: v for k, v in data.items() if k in known})
        except TypeError:
            return None
        if not isinstance(record.row, dict) or not isinstance(record.options, dict):
            return None
        if safe_stem(record.stem) != record.stem:
            return None
        return record

    def csv_row(self) -> dict[str, str]:
        row = {column: str(self.row.get(column, "")) for column in RESULTS_COLUMNS}
        row.update(scan=self.stem, status=self.status, source=self.source,
                   error=one_line(self.error), qc_warnings=one_line(row["qc_warnings"], limit=2000),
                   tta=_yes_no(self.options.get("tta")), model_hash=self.model_hash[:16])
        return row


def _yes_no(value: Any) -> str:
    return "" if value is None else ("yes" if value else "no")


def safe_stem(name: str) -> str:
    """``name`` reduced to ``A-Z a-z 0-9 . _ -`` (runs of anything else become ``_``), at most
    100 characters, never starting with a dot; ``scan`` if nothing is left."""
    cleaned = _UNSAFE.sub("_", name).lstrip(".")[:_MAX_NAME]
    return cleaned or "scan"


def path_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()


def stem_candidates(name: str, key: str) -> list[str]:
    """The stems a scan may get, in order of preference (see the module docstring)."""
    base = safe_stem(name)
    digest = path_hash(key)
    hashed = [f"{base}-{digest[:8]}", f"{base}-{digest[:16]}", f"{base}-{digest}"]
    return ([base] if base == name else []) + hashed


def bundle_hash(bundle: Path) -> str:
    """SHA-256 over a bundle's card and weight files: a result records the exact model it came from."""
    digest = hashlib.sha256()
    for path in sorted(Path(bundle).glob("*")):
        if path.is_file() and path.suffix in (".json", ".safetensors") and not path.name.startswith("."):
            digest.update(path.name.encode())
            with open(path, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
    return digest.hexdigest()


class ResultsStore:
    """The records of one output folder. Create it with :meth:`open`."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = Path(out_dir)
        self.records_dir = self.out_dir / RECORDS_DIR
        self.results_path = self.out_dir / RESULTS_FILE
        self._cache: dict[str, tuple[tuple[int, int], ScanRecord | None]] = {}

    # ---------------------------------------------------------------------------- opening
    @classmethod
    def open(cls, out_dir: str | Path) -> ResultsStore:
        """Create (or reuse) an output folder and check that it can be written.

        Temporary files left by killed runs are removed. A ``results.csv`` written by a version
        without records is turned into records, so its rows are kept.

        Raises:
            OutputFolderError: ``out_dir`` is a file, or cannot be created or written.
        """
        store = cls(Path(out_dir))
        out = store.out_dir
        if out.exists() and not out.is_dir():
            raise OutputFolderError(f"The output folder '{out}' is a file, not a folder.", path=out,
                                    hint="Pass --out a new or existing folder.")
        try:
            out.mkdir(parents=True, exist_ok=True)
            store.records_dir.mkdir(exist_ok=True)
            fd = os.open(out / LOCK_FILE, os.O_WRONLY | os.O_CREAT, 0o666)
            os.close(fd)
        except OSError as exc:
            raise OutputFolderError(f"The output folder '{out}' cannot be written ({describe_os_error(exc)}).",
                                    path=out, hint="Choose a folder you can write to, with free space.") from exc
        for folder in (out, store.records_dir):
            remove_stale_temporaries(folder)
        with store.locked():
            store._import_legacy_csv()
        return store

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the folder's lock (blocking) for claims and CSV rebuilds."""
        if fcntl is None:
            yield
            return
        try:
            fd = os.open(self.out_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            raise OutputFolderError(f"The output folder '{self.out_dir}' cannot be written "
                                    f"({describe_os_error(exc)}).", path=self.out_dir) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    # ---------------------------------------------------------------------------- records
    def record_path(self, stem: str) -> Path:
        return self.records_dir / f"{stem}.json"

    def get(self, stem: str) -> ScanRecord | None:
        """The record of ``stem`` (``None`` if there is none or it is unreadable)."""
        path = self.record_path(stem)
        try:
            st = os.stat(path)
        except OSError:
            self._cache.pop(stem, None)
            return None
        signature = (st.st_mtime_ns, st.st_size)
        cached = self._cache.get(stem)
        if cached is not None and cached[0] == signature:
            return cached[1]
        try:
            record = ScanRecord.from_dict(json.loads(path.read_bytes().decode("utf-8")))
        except (OSError, ValueError):
            record = None
        if record is not None and record.stem != stem:
            record = None
        self._cache[stem] = (signature, record)
        return record

    def records(self) -> list[ScanRecord]:
        """Every readable record, sorted by stem."""
        try:
            names = sorted(p.name for p in os.scandir(self.records_dir)
                           if p.name.endswith(".json") and not p.name.startswith("."))
        except OSError as exc:
            raise OutputFolderError(f"'{self.records_dir}' cannot be read ({describe_os_error(exc)}).",
                                    path=self.records_dir) from exc
        found = [self.get(name[: -len(".json")]) for name in names]
        return [r for r in found if r is not None]

    def put(self, record: ScanRecord) -> None:
        """Write ``record`` atomically.

        Raises:
            VolumeWriteError: the folder is not writable or the disk is full.
        """
        record.error = one_line(record.error)
        text = json.dumps(strict_json(asdict(record)), indent=2, allow_nan=False)
        write_text_atomically(self.record_path(record.stem), text)

    def claim(self, scans: Sequence[tuple[str, str, str]]) -> dict[str, str]:
        """Give every scan its stem, reusing the stems earlier runs gave.

        Args:
            scans: ``(key, name, source)`` per scan.

        Returns:
            ``{key: stem}``. New scans get a ``pending`` record, so a concurrent process sees
            the claim.
        """
        with self.locked():
            by_key: dict[str, str] = {}
            taken: dict[str, str] = {}  # casefolded stem -> key
            for record in self.records():
                by_key.setdefault(record.key, record.stem)
                taken[record.stem.casefold()] = record.key
            stems: dict[str, str] = {}
            for key, name, source in scans:
                if key in stems:
                    continue
                stem = by_key.get(key)
                if stem is None:
                    stem = next(c for c in stem_candidates(name, key) if taken.get(c.casefold(), key) == key)
                    taken[stem.casefold()] = key
                    self.put(ScanRecord(key=key, stem=stem, source=source))
                stems[key] = stem
            return stems

    # ---------------------------------------------------------------------------- results.csv
    def rebuild_csv(self) -> Path:
        """Rewrite ``results.csv`` from every finished record, atomically and under the lock.

        Raises:
            VolumeWriteError: the folder is not writable or the disk is full.
        """
        with self.locked():
            rows = [r.csv_row() for r in self.records() if r.status in (STATUS_OK, STATUS_FAILED)]
            buffer = io.StringIO()
            writer = csv.DictWriter(buffer, fieldnames=list(RESULTS_COLUMNS), extrasaction="ignore",
                                    lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
            write_text_atomically(self.results_path, buffer.getvalue())
        return self.results_path

    def _import_legacy_csv(self) -> None:
        """Records for the rows of a ``results.csv`` written before records existed (run under the lock)."""
        if not self.results_path.is_file() or self.records():
            return
        try:
            text = self.results_path.read_bytes().decode("utf-8", errors="replace")  # may be cut mid-character
            rows = list(csv.DictReader(io.StringIO(text, newline="")))
        except (OSError, csv.Error):
            return
        for row in rows:
            stem, source = (row.get("scan") or "").strip(), (row.get("source") or "").strip()
            if not stem or safe_stem(stem) != stem or not source or row.get("status") not in (STATUS_OK, STATUS_FAILED):
                continue
            if self.get(stem) is not None:
                continue
            key = os.path.realpath(source)
            outputs = [f"{stem}_hippocampus_mask.nii.gz", f"{stem}.json"] if row["status"] == STATUS_OK else []
            self.put(ScanRecord(key=key, stem=stem, source=source, status=row["status"], error=row.get("error") or "",
                                model=row.get("model") or "", row={c: row.get(c) or "" for c in CSV_COLUMNS},
                                outputs=outputs, notes=["imported from a results.csv without records"]))
