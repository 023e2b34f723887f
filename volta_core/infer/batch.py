"""Predict on many scans: one row per scan in ``results.csv``, resumable, never stopped by one bad scan."""

from __future__ import annotations

import csv
import io
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from volta_core.infer.export import CSV_COLUMNS, csv_row, failure_row, write_prediction
from volta_core.infer.inputs import ScanInput
from volta_core.infer.predictor import PredictionError, Predictor
from volta_core.io import VolumeReadError, VolumeWriteError, load_volume

RESULTS_FILE = "results.csv"


@dataclass
class BatchSummary:
    """What a batch did. ``rows`` are in input order."""

    rows: list[dict[str, str]] = field(default_factory=list)
    skipped: int = 0

    @property
    def n_ok(self) -> int:
        return sum(r["status"] == "ok" for r in self.rows)

    @property
    def n_failed(self) -> int:
        return sum(r["status"] == "failed" for r in self.rows)


def read_results(path: Path) -> dict[str, dict[str, str]]:
    """Rows of an existing ``results.csv`` by scan name (empty if there is none)."""
    if not path.is_file():
        return {}
    with open(path, newline="") as handle:
        return {row["scan"]: row for row in csv.DictReader(handle) if row.get("scan")}


def write_results(path: Path, rows: list[dict[str, str]]) -> None:
    """Rewrite ``results.csv`` atomically (so an interrupted batch never leaves a torn file)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(CSV_COLUMNS), extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".results.", suffix=".tmp")
        with os.fdopen(fd, "w", newline="") as handle:
            handle.write(buffer.getvalue())
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        raise VolumeWriteError(f"could not write {path}: {exc.strerror or exc}", path=path) from exc


def _already_done(row: dict[str, str] | None, out_dir: Path, scan: ScanInput) -> bool:
    return (row is not None and row.get("status") == "ok" and row.get("source") == str(scan.path)
            and (out_dir / f"{scan.name}_hippocampus_mask.nii.gz").is_file()
            and (out_dir / f"{scan.name}.json").is_file())


def run_batch(
    predictor: Predictor,
    scans: list[ScanInput],
    out_dir: Path,
    *,
    tta: bool = False,
    show_progress: bool = True,
) -> BatchSummary:
    """Predict on every scan, writing masks, JSON and ``results.csv`` as it goes.

    Scans already done (status ok, outputs present) are skipped, so re-running after an
    interruption continues where it stopped. A scan that cannot be read or predicted is
    recorded with its error and the batch goes on.

    Raises:
        VolumeWriteError: the output folder cannot be written (nothing else would succeed).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    results_path = out_dir / RESULTS_FILE
    previous = read_results(results_path)
    summary = BatchSummary()
    rows: dict[str, dict[str, str]] = {}
    bar = tqdm(scans, desc="volta predict", unit="scan", file=sys.stderr, disable=not show_progress)
    for scan in bar:
        bar.set_postfix_str(scan.name)
        if _already_done(previous.get(scan.name), out_dir, scan):
            rows[scan.name] = previous[scan.name]
            summary.skipped += 1
            continue
        started = time.perf_counter()
        try:
            volume = load_volume(scan.path)
            prediction = predictor.predict(volume, tta=tta, name=scan.name)
            write_prediction(prediction, volume, out_dir, scan.name)
            rows[scan.name] = csv_row(prediction, source=str(scan.path), seconds=time.perf_counter() - started)
        except VolumeWriteError:
            raise
        except (VolumeReadError, PredictionError) as exc:
            rows[scan.name] = failure_row(scan.name, str(exc), source=str(scan.path),
                                          seconds=time.perf_counter() - started)
        except Exception as exc:  # noqa: BLE001 - one bad scan must not stop a batch; the row says what happened
            rows[scan.name] = failure_row(scan.name, f"unexpected error: {type(exc).__name__}: {exc}",
                                          source=str(scan.path), seconds=time.perf_counter() - started)
        write_results(results_path, [rows[s.name] for s in scans if s.name in rows])
    summary.rows = [rows[s.name] for s in scans]
    write_results(results_path, summary.rows)
    return summary
