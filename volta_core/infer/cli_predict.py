"""``volta predict INPUT... --out DIR [--model BUNDLE] [--device auto|cpu|cuda|mps] [--tta]``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "segment the hippocampus (and classify) on scans; writes masks, JSON and results.csv"


def positive_threads(text: str) -> int:
    """``--threads``: a whole number >= 1 (an argparse type: bad values give a usage error, exit 2)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of threads, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value} (leave it out to use every core)")
    return value


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "predict",
        help=HELP,
        description="Run a model bundle on files, folders or a BIDS dataset. Writes DIR/results.csv "
                    "(one row per scan), DIR/<scan>_hippocampus_mask.nii.gz on the scan's own grid, "
                    "DIR/<scan>.json and DIR/records/<scan>.json. Re-running skips scans already done "
                    "with the same model and options; rows of other runs into DIR are kept. "
                    "Research use only.",
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="scan files, folders or a BIDS dataset")
    p.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder")
    p.add_argument("--model", type=Path, default=None, metavar="BUNDLE",
                   help="model bundle folder (default: the bundled model)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"))
    p.add_argument("--tta", action="store_true", help="also run on the mirrored scan and average")
    p.add_argument("--volume", type=int, default=None, metavar="N",
                   help="for 4D scans, predict on volume N (0-based); 3D scans ignore it")
    p.add_argument("--nan-to-zero", action="store_true",
                   help="replace NaN or infinite voxels with 0 instead of failing the scan")
    p.add_argument("--threads", type=positive_threads, default=None, metavar="N",
                   help="CPU threads for the model, 1 or more (default: all cores)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def default_bundle() -> Path | None:
    """The bundled model shipped in resources/models (None if this install has none)."""
    from volta_core.io.resources import resource_path

    models = resource_path("models")
    if not models.is_dir():
        return None
    bundles = sorted(p.parent for p in models.glob("*/model_card.json"))
    return bundles[0] if bundles else None


def run(args: argparse.Namespace) -> int:
    from volta_core.infer.batch import BatchOptions, run_batch
    from volta_core.infer.inputs import collect_inputs
    from volta_core.infer.results_store import OutputFolderError, ResultsStore, bundle_hash
    from volta_core.io import VolumeWriteError

    bundle = args.model or default_bundle()
    if bundle is None:
        print("error: no model bundle given and none is bundled; pass --model BUNDLE", file=sys.stderr)
        return 2
    try:
        store = ResultsStore.open(args.out)  # before the model loads: a bad --out fails at once
    except OutputFolderError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    scans = collect_inputs(args.inputs)
    if not scans:
        print("error: no scans found in the given inputs", file=sys.stderr)
        return 2
    import SimpleITK as sitk
    import torch

    from volta_core.infer.predictor import Predictor
    from volta_core.contracts.model_card import BundleError
    from volta_core.model.device import DeviceError

    sitk.ProcessObject.SetGlobalWarningDisplay(False)  # ITK's warnings are not the user's business
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        predictor = Predictor.from_bundle(bundle, device=args.device)
        model_hash = bundle_hash(Path(bundle))
    except (BundleError, DeviceError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: the model bundle '{bundle}' cannot be read ({exc.strerror or exc})", file=sys.stderr)
        return 2
    print(f"model: {predictor.card.name} ({bundle}) on {predictor.device_name}; {len(scans)} scan(s)",
          file=sys.stderr)
    options = BatchOptions(tta=args.tta, volume_index=args.volume, nan_to_zero=args.nan_to_zero)
    try:
        summary = run_batch(predictor, scans, store, options=options, show_progress=not args.quiet,
                            model_hash=model_hash)
    except VolumeWriteError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"done: {summary.n_ok} ok, {summary.n_failed} failed, {summary.skipped} already done -> "
          f"{summary.csv}", file=sys.stderr)
    for row in summary.rows:
        if row["status"] == "failed":
            print(f"  failed: {row['scan']}: {row['error']}", file=sys.stderr)
    return 1 if summary.n_ok == 0 else 0
