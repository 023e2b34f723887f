"""Predict on many scans: one record per scan, ``results.csv`` rebuilt from all of them.

Resumable (a scan whose record says ok for the same model and options, with its outputs
present, is not redone), never stopped by one bad scan, and safe with other processes writing
into the same folder (see :mod:`volta_core.infer.results_store`).
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
from volta_core.io import (
    MultiVolumeError,
    NonFiniteVoxelsError,
    VolumeReadError,
    VolumeWriteError,
    load_volume,
)
from volta_core.io.atomic import remove_quietly
from volta_core.io.checks import NAN_REPLACED

RESULTS_FILE = "results.csv"
_LIBRARY_LOGGERS = ("nibabel", "nibabel.global", "py.warnings")


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


@dataclass(frozen=True)
class BatchOptions:
    """Options that change the numbers; a record made with other ones is redone.

    Attributes:
        tta: also run on the mirrored scan and average.
        volume_index: which volume of 4D scans to use (``None``: 4D scans fail with a hint).
        nan_to_zero: replace NaN/inf voxels by 0 instead of failing.
    """

    tta: bool = False
    volume_index: int | None = None
    nan_to_zero: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"tta": self.tta, "volume_index": self.volume_index, "nan_to_zero": self.nan_to_zero}


def _is_current(record: ScanRecord | None, out_dir: Path, model_hash: str, options: BatchOptions) -> bool:
    """Whether ``record`` is what this run would produce: same model, same effective options, outputs present.

    Records hold the options as they took effect: ``volume_index`` only for 4D scans and
    ``nan_to_zero`` only when voxels were replaced, so ``--volume`` or ``--nan-to-zero`` do not
    redo the scans they do not change.
    """
    if record is None or record.status != STATUS_OK or record.model_hash != model_hash:
        return False
    used = record.options
    if (bool(used.get("tta")) != options.tta
            or (used.get("volume_index") is not None and used.get("volume_index") != options.volume_index)
            or (bool(used.get("nan_to_zero")) and not options.nan_to_zero)):
        return False
    return bool(record.outputs) and all((out_dir / name).is_file() for name in record.outputs)


@contextlib.contextmanager
def captured_library_messages(notes: list[str]) -> Iterator[None]:
    """Collect Python warnings and nibabel log records into ``notes`` instead of stderr."""

    class _Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            notes.append(one_line(f"{record.name}: {record.getMessage()}"))

    handler = _Collect(level=logging.WARNING)
    loggers = [logging.getLogger(name) for name in _LIBRARY_LOGGERS]
    saved = [(lg.handlers[:], lg.propagate) for lg in loggers]
    for lg in loggers:
        lg.handlers = [handler]
        lg.propagate = False
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        finally:
            for lg, (handlers, propagate) in zip(loggers, saved):
                lg.handlers, lg.propagate = handlers, propagate
            for w in caught:
                notes.append(one_line(f"{w.category.__name__}: {w.message}"))


def _hint_for_cli(exc: VolumeReadError) -> str:
    """The error's message with a hint that names this command's options."""
    if isinstance(exc, MultiVolumeError):
        return (f"{exc.message} Pass --volume N to predict on one of them "
                f"(0 to {exc.n_volumes - 1}).")
    if isinstance(exc, NonFiniteVoxelsError):
        return f"{exc.message} Pass --nan-to-zero to replace them with 0, or fix the file."
    return str(exc)


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
        if _is_current(previous, out, model_hash, options):
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
                prediction = predictor.predict(volume, tta=options.tta, name=stem)
                files = write_prediction(prediction, volume, out, stem)
            record.options = {"tta": options.tta, "volume_index": volume.metadata.get("volume_index"),
                              "nan_to_zero": options.nan_to_zero and any(
                                  NAN_REPLACED in w for w in volume.metadata.get("warnings", []))}
            record.row = csv_row(prediction, source=str(scan.path), seconds=time.perf_counter() - started)
            record.outputs = [p.name for p in files.values()]
            record.status = STATUS_OK
            return record
        except VolumeWriteError:
            raise
        except VolumeReadError as exc:
            error = _hint_for_cli(exc)
        except PredictionError as exc:
            error = str(exc)
        except MemoryError:
            error = _out_of_memory(scan.path.name)
        except Exception as exc:  # noqa: BLE001 - one bad scan must not stop a batch; the row says what happened
            if _is_out_of_memory(exc):  # SimpleITK/ITK and torch report it as a RuntimeError with C++ internals
                error = _out_of_memory(scan.path.name)
            else:
                error = f"unexpected error on '{scan.path.name}': {type(exc).__name__}: {exc}"
    record.status = STATUS_FAILED
    record.error = one_line(error)
    record.row = failure_row(stem, error, source=str(scan.path), seconds=time.perf_counter() - started)
    return record


_OOM_MARKERS = ("failed to allocate memory", "out of memory", "std::bad_alloc", "cannot allocate memory",
                "defaultcpuallocator: can't allocate memory")


def _is_out_of_memory(exc: BaseException) -> bool:
    text = str(exc).lower()
    return any(marker in text for marker in _OOM_MARKERS)


def _out_of_memory(name: str) -> str:
    return (f"not enough memory to process '{name}': close other programs, run with --threads 1, "
            "or use a machine with more memory")
