"""Predict on many scans: one record per scan, ``results.csv`` rebuilt from all of them.

Resumable (a scan whose record says ok for the same model and options, with its outputs
present, is not redone), never stopped by one bad scan, and safe with other processes writing
into the same folder (see :mod:`volta_core.infer.results_store`).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from volta_core.infer.export import csv_row, failure_row, one_line, write_prediction
from volta_core.infer.inputs import ScanInput
from volta_core.infer.predictor import PredictionError, Predictor
from volta_core.infer.results_store import (
    STATUS_FAILED,
    STATUS_OK,
    ResultsStore,
    ScanRecord,
    bundle_hash,
)
from volta_core.infer.scan_steps import (
    BatchOptions,
    captured_library_messages,
    hint_for_cli,
    is_current,
    is_out_of_memory,
    out_of_memory,
)
from volta_core.io import VolumeReadError, VolumeWriteError, load_volume
from volta_core.io.atomic import remove_quietly
from volta_core.io.checks import NAN_REPLACED
from volta_core.preprocess.resample import GridTooLargeError, subdivide_grid

RESULTS_FILE = "results.csv"


@dataclass
class BatchSummary:
    """What a batch did. ``rows`` are this run's scans in input order; ``csv`` holds every record's."""

    rows: list[dict[str, str]] = field(default_factory=list)
    skipped: int = 0
    csv: Path | None = None

    @property
    def n_ok(self) -> int:
        return sum(r["status"] == "ok" for r in self.rows)

    @property
    def n_failed(self) -> int:
        return sum(r["status"] == "failed" for r in self.rows)


def run_batch(
    predictor: Predictor,
    scans: list[ScanInput],
    out_dir: Path | ResultsStore,
    *,
    tta: bool = False,
    options: BatchOptions | None = None,
    show_progress: bool = True,
    model_hash: str | None = None,
) -> BatchSummary:
    """Predict on every scan, writing masks, JSON, a record per scan and ``results.csv``.

    Args:
        predictor: the loaded model.
        scans: from :func:`volta_core.infer.inputs.collect_inputs`.
        out_dir: the output folder (or a store already opened on it).
        tta: shorthand for ``options.tta``.
        options: what to do with 4D and non-finite scans, and test-time augmentation.
        show_progress: a progress bar on stderr.
        model_hash: the bundle's hash (computed from ``predictor.bundle`` when not given).

    Raises:
        OutputFolderError: the output folder is a file or cannot be written.
        VolumeWriteError: the output folder cannot be written (nothing else would succeed).
    """
    options = options or BatchOptions(tta=tta)
    store = out_dir if isinstance(out_dir, ResultsStore) else ResultsStore.open(out_dir)
    out = store.out_dir
    model_hash = model_hash or bundle_hash(predictor.bundle)
    stems = store.claim([(s.key, s.name, str(s.path)) for s in scans])
    summary = BatchSummary()
    bar = tqdm(scans, desc="volta predict", unit="scan", file=sys.stderr, disable=not show_progress)
    for scan in bar:
        stem = stems[scan.key]
        bar.set_postfix_str(stem)
        previous = store.get(stem)
        if is_current(previous, out, model_hash, options):
            assert previous is not None
            summary.rows.append(previous.csv_row())
            summary.skipped += 1
            continue
        record = _predict_one(predictor, scan, stem, out, options, model_hash)
        if record.status != STATUS_OK and previous is not None:
            for name in previous.outputs:  # the old outputs came from another model or options
                remove_quietly(out / name)
        store.put(record)
        summary.rows.append(record.csv_row())
        store.rebuild_csv()
    summary.csv = store.rebuild_csv()
    return summary


def _predict_one(predictor: Predictor, scan: ScanInput, stem: str, out: Path, options: BatchOptions,
                 model_hash: str) -> ScanRecord:
    record = ScanRecord(key=scan.key, stem=stem, source=str(scan.path), model_hash=model_hash,
                        model=predictor.card.name, options=options.as_dict())
    started = time.perf_counter()
    error: str | None = scan.problem
    if error is None:
        try:
            with captured_library_messages(record.notes):
                volume = load_volume(scan.path, volume_index=options.volume_index,
                                     nonfinite="zero" if options.nan_to_zero else "error")
                if options.fine_grid:
                    volume = subdivide_grid(volume)
                prediction = predictor.predict(volume, tta=options.tta, name=stem, segmenter=options.segmenter)
                files = write_prediction(prediction, volume, out, stem)
            record.options = {"tta": options.tta, "fine_grid": options.fine_grid, "segmenter": options.segmenter,
                              "volume_index": volume.metadata.get("volume_index"),
                              "nan_to_zero": options.nan_to_zero and any(
                                  NAN_REPLACED in w for w in volume.metadata.get("warnings", []))}
            record.row = csv_row(prediction, source=str(scan.path), seconds=time.perf_counter() - started)
            record.outputs = [p.name for p in files.values()]
            record.status = STATUS_OK
            return record
        except VolumeWriteError:
            raise
        except VolumeReadError as exc:
            error = hint_for_cli(exc)
        except (PredictionError, GridTooLargeError) as exc:
            error = str(exc)
        except MemoryError:
            error = out_of_memory(scan.path.name)
        except Exception as exc:  # noqa: BLE001 - one bad scan must not stop a batch; the row says what happened
            if is_out_of_memory(exc):  # SimpleITK/ITK and torch report it as a RuntimeError with C++ internals
                error = out_of_memory(scan.path.name)
            else:
                error = f"unexpected error on '{scan.path.name}': {type(exc).__name__}: {exc}"
    record.status = STATUS_FAILED
    record.error = one_line(error)
    record.row = failure_row(stem, error, source=str(scan.path), seconds=time.perf_counter() - started)
    return record


__all__ = ["RESULTS_FILE", "BatchOptions", "BatchSummary", "captured_library_messages", "run_batch"]
