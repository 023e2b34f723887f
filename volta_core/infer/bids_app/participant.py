"""``volta predict BIDS_DIR OUT_DIR participant``: the model on this shard's scans, one record each.

Start-up is kept short: the scan list, the shard and the output folder need no torch, and torch
plus the model are loaded in a background thread while the first scan is being read. Each scan
is read once; its labels, label table, sidecar and QC figure come from that one read.

Records are those of :mod:`volta_core.infer.results_store` (``OUT/records/<scan_id>.json``,
written atomically); a record made by the same model with the same options whose files are all
present is skipped, a failed or unfinished one is redone.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

from volta_core.infer.bids_app.derivatives import (
    qc_png_path,
    write_dataset_description,
    write_qc_png,
    write_scan_derivatives,
)
from volta_core.infer.bids_app.scans import BidsInputError, BidsScan, find_scans
from volta_core.infer.bids_app.shard import RankPlacement, ShardError, resolve_shard
from volta_core.infer.export import csv_row, failure_row, one_line
from volta_core.infer.inputs import scan_key
from volta_core.infer.results_store import (
    STATUS_FAILED,
    STATUS_OK,
    OutputFolderError,
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

#: ``options["layout"]`` of records written by the BIDS App (a flat-mode record is not reused)
LAYOUT = "bids-derivatives"


def is_current_bids(record: ScanRecord | None, out: Path, model_hash: str, options: BatchOptions) -> bool:
    """A finished BIDS-App record of the same model and options whose files are all present."""
    return is_current(record, out, model_hash, options) and record is not None and \
        record.options.get("layout") == LAYOUT


class ModelLoader(threading.Thread):
    """Imports torch and loads the bundle in the background; :meth:`get` waits for it."""

    def __init__(self, bundle: Path, device: str, local_rank: int) -> None:
        super().__init__(name="volta-model-loader", daemon=True)
        self.bundle, self.device, self.local_rank = bundle, device, local_rank
        self.predictor: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            import SimpleITK as sitk

            from volta_core.infer.predictor import Predictor

            sitk.ProcessObject.SetGlobalWarningDisplay(False)  # ITK's warnings are not the user's business
            self.predictor = Predictor.from_bundle(self.bundle, device=self.device, local_rank=self.local_rank)
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread by get()
            self.error = exc

    def get(self) -> Any:
        self.join()
        if self.error is not None:
            raise self.error
        return self.predictor


def _say(args: argparse.Namespace, text: str) -> None:
    if not args.quiet:
        print(f"volta participant: {text}", file=sys.stderr, flush=True)


def _model_name(bundle: Path) -> str:
    try:
        card = json.loads((bundle / "model_card.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ""
    return str(card.get("name", "")) if isinstance(card, dict) else ""


def run_participant(args: argparse.Namespace, bids_dir: Path, out_dir: Path, bundle: Path) -> int:
    """The participant stage; returns the exit status (0 ok, 1 every scan failed, 2 bad input)."""
    try:
        scans = find_scans(bids_dir, participants=args.participant_label, sessions=args.session_label)
        shard, placement = resolve_shard(args.shard)
    except (BidsInputError, ShardError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not (bundle / "model_card.json").is_file():
        print(f"error: '{bundle}' is not a model bundle (it has no model_card.json); pass --model BUNDLE",
              file=sys.stderr)
        return 2
    try:
        store = ResultsStore.open(out_dir)
    except OutputFolderError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    model_hash, model_name = bundle_hash(bundle), _model_name(bundle)
    options = BatchOptions(tta=args.tta, volume_index=args.volume, nan_to_zero=args.nan_to_zero,
                           segmenter=args.segmenter)
    mine = shard.select(scans)
    try:
        if shard.first:
            write_dataset_description(out_dir, model_name=model_name, model_hash=model_hash, source=bids_dir)
        stems = store.claim([(_key(s), s.scan_id, s.relative) for s in mine])
    except VolumeWriteError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    todo = [(s, stems[_key(s)]) for s in mine
            if not is_current_bids(store.get(stems[_key(s)]), out_dir, model_hash, options)]
    _say(args, f"{len(scans)} scan(s) in '{bids_dir}'; {shard.describe()}: {len(mine)}, "
               f"{len(mine) - len(todo)} already done")
    if not todo:
        return 0
    loader = ModelLoader(bundle, args.device, placement.local_rank)
    loader.start()
    n_ok = 0
    for number, (scan, stem) in enumerate(todo, start=1):
        previous = store.get(stem)
        try:
            record = _predict_scan(loader, placement, args, scan, stem, out_dir, options, model_hash, model_name)
        except _ModelUnavailable as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        except VolumeWriteError as exc:
            loader.join()
            print(f"error: {exc}", file=sys.stderr)
            return 1
        if record.status != STATUS_OK and previous is not None:
            for name in previous.outputs:  # the old outputs came from another model or options
                remove_quietly(out_dir / name)
        try:
            store.put(record)
        except VolumeWriteError as exc:
            loader.join()
            print(f"error: {exc}", file=sys.stderr)
            return 1
        n_ok += record.status == STATUS_OK
        detail = "ok" if record.status == STATUS_OK else f"failed: {record.error}"
        _say(args, f"[{number}/{len(todo)}] {stem}: {detail} ({record.row.get('seconds', '')} s)")
    loader.join()  # never leave an import running into interpreter shutdown
    _say(args, f"done: {n_ok} ok, {len(todo) - n_ok} failed, {len(mine) - len(todo)} already done -> {out_dir}")
    if placement.distributed:
        # torchrun stops every rank when one exits non-zero: a rank whose scans all failed must not
        # cut the others short (its failures are in its records, and 'group' lists them)
        return 0
    return 0 if n_ok else 1


def _key(scan: BidsScan) -> str:
    return scan_key(scan.path)


class _ModelUnavailable(RuntimeError):
    """The bundle or the device cannot be used: nothing would succeed."""


_threads_set = False


def _predictor(loader: ModelLoader, placement: RankPlacement, args: argparse.Namespace) -> Any:
    """The loaded model; the first call also sets this process's CPU threads."""
    global _threads_set
    from volta_core.model.bundle import BundleError
    from volta_core.model.device import DeviceError

    try:
        predictor = loader.get()
    except (BundleError, DeviceError) as exc:
        raise _ModelUnavailable(str(exc)) from exc
    except OSError as exc:
        raise _ModelUnavailable(f"the model bundle '{loader.bundle}' cannot be read ({exc.strerror or exc})") from exc
    if not _threads_set:
        import torch

        _threads_set = True
        for line in predictor.head_caveats():
            _say(args, line)
        threads = args.threads or (placement.threads() if placement.distributed else None)
        if threads:
            torch.set_num_threads(threads)  # in the main thread: torch's thread settings are per thread
    return predictor


def _predict_scan(loader: ModelLoader, placement: RankPlacement, args: argparse.Namespace, scan: BidsScan,
                  stem: str, out: Path, options: BatchOptions, model_hash: str, model_name: str) -> ScanRecord:
    record = ScanRecord(key=_key(scan), stem=stem, source=scan.relative, model_hash=model_hash, model=model_name,
                        options={**options.as_dict(), "layout": LAYOUT})
    started = time.perf_counter()
    try:
        with captured_library_messages(record.notes):
            volume = load_volume(scan.path, volume_index=options.volume_index,
                                 nonfinite="zero" if options.nan_to_zero else "error")
        read_seconds = time.perf_counter() - started
        predictor = _predictor(loader, placement, args)  # the first scan waits here for torch and the model
        started = time.perf_counter() - read_seconds  # seconds count reading and predicting, not that wait
        from volta_core.infer.predictor import PredictionError

        try:
            with captured_library_messages(record.notes):
                prediction = predictor.predict(volume, tta=options.tta, name=stem, segmenter=options.segmenter)
                record.options = {"tta": options.tta, "segmenter": options.segmenter,
                                  "volume_index": volume.metadata.get("volume_index"),
                                  "nan_to_zero": options.nan_to_zero and any(
                                      NAN_REPLACED in w for w in volume.metadata.get("warnings", [])),
                                  "layout": LAYOUT}
                outputs = write_scan_derivatives(prediction, volume, out, scan, stem, model_hash=model_hash,
                                                 options=record.options)
            png = qc_png_path(scan, stem)
            if write_qc_png(volume, prediction.labels, dict(prediction.label_names), out / png, record.notes):
                outputs.append(png)
        except PredictionError as exc:
            return _failed(record, str(exc), scan, started)
        record.row = csv_row(prediction, source=scan.relative, seconds=time.perf_counter() - started)
        record.model = prediction.model.name
        record.outputs = outputs
        record.status = STATUS_OK
        return record
    except (VolumeWriteError, _ModelUnavailable):
        raise
    except VolumeReadError as exc:
        return _failed(record, hint_for_cli(exc), scan, started)
    except MemoryError:
        return _failed(record, out_of_memory(scan.path.name), scan, started)
    except Exception as exc:  # noqa: BLE001 - one bad scan must not stop the shard; the record says what happened
        error = out_of_memory(scan.path.name) if is_out_of_memory(exc) else \
            f"unexpected error on '{scan.path.name}': {type(exc).__name__}: {exc}"
        return _failed(record, error, scan, started)


def _failed(record: ScanRecord, error: str, scan: BidsScan, started: float) -> ScanRecord:
    record.status = STATUS_FAILED
    record.error = one_line(error)
    record.outputs = []
    record.row = failure_row(record.stem, error, source=scan.relative, seconds=time.perf_counter() - started)
    return record
