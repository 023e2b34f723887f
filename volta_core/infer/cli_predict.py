"""``volta predict``, in two forms.

- Files and folders: ``volta predict INPUT... --out DIR [--model BUNDLE] [--device ...] [--tta]``.
- BIDS App: ``volta predict BIDS_DIR OUT_DIR participant [--participant-label ...] [--session-label ...]
  [--shard K/N]`` and ``volta predict BIDS_DIR OUT_DIR group [--qc-marks FILE]`` (see
  :mod:`volta_core.infer.bids_app`). The form is told by the third argument being
  ``participant`` or ``group`` (and no ``--out``).
"""

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
        usage="%(prog)s INPUT... --out DIR [options]\n"
              "       %(prog)s BIDS_DIR OUT_DIR participant [--participant-label L ...] [--session-label S ...] "
              "[--shard K/N] [options]\n"
              "       %(prog)s BIDS_DIR OUT_DIR group [--participant-label L ...] [--qc-marks FILE]",
        description="Run a model bundle on files, folders or a BIDS dataset. Writes DIR/results.csv "
                    "(one row per scan), DIR/<scan>_hippocampus_mask.nii.gz on the scan's own grid, "
                    "DIR/<scan>.json and DIR/records/<scan>.json. Re-running skips scans already done "
                    "with the same model and options; rows of other runs into DIR are kept. "
                    "As a BIDS App (third argument 'participant' or 'group'), it writes BIDS derivatives "
                    "into OUT_DIR: per scan _desc-hippocampus_dseg.nii.gz/.tsv/.json and a QC figure; "
                    "'group' merges them with participants.tsv into OUT_DIR/volumes.tsv, a QC gallery "
                    "and a group report. The participant stage splits the scans between SLURM array "
                    "tasks (SLURM_ARRAY_TASK_ID/COUNT), --shard K/N and torchrun ranks. "
                    "Research use only.",
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="scan files, folders or a BIDS dataset; or BIDS_DIR OUT_DIR participant|group")
    p.add_argument("--out", type=Path, metavar="DIR", help="output folder (files-and-folders form)")
    p.add_argument("--model", type=Path, default=None, metavar="BUNDLE",
                   help="model bundle folder (default: the bundled model)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"))
    p.add_argument("--tta", action="store_true", help="also run on the mirrored scan and average")
    p.add_argument("--fine-grid", action="store_true",
                   help="write masks and measure volumes on the scan's grid cut into voxels of about 1 mm "
                        "(thick-slice scans: 6 mm slices become six 1 mm ones; the mask keeps the scan's "
                        "position and orientation); 1 mm scans are unchanged. Not for the BIDS-App form")
    p.add_argument("--segmenter", default="auto", choices=("auto", "t1", "general"),
                   help="which of the model's segmenters draws the masks, for a model that has two: 'auto' "
                        "(default) uses its T1 segmenter for scans that correlate with the T1 template as its "
                        "card says, the general one for other contrasts; 't1' or 'general' forces one")
    p.add_argument("--volume", type=int, default=None, metavar="N",
                   help="for 4D scans, predict on volume N (0-based); 3D scans ignore it")
    p.add_argument("--nan-to-zero", action="store_true",
                   help="replace NaN or infinite voxels with 0 instead of failing the scan")
    p.add_argument("--threads", type=positive_threads, default=None, metavar="N",
                   help="CPU threads for the model, 1 or more (default: all cores)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    bids = p.add_argument_group("BIDS App (volta predict BIDS_DIR OUT_DIR participant|group)")
    bids.add_argument("--participant-label", nargs="+", metavar="LABEL",
                      help="only these participants (with or without 'sub-')")
    bids.add_argument("--session-label", nargs="+", metavar="LABEL",
                      help="only these sessions (with or without 'ses-')")
    bids.add_argument("--shard", metavar="K/N",
                      help="participant: do part K of N of the scans (1-based, 1/N .. N/N); default: the "
                           "SLURM array task's part, or all scans")
    bids.add_argument("--qc-marks", type=Path, metavar="FILE",
                      help="group: the reviewer's marks exported from the QC gallery (default: OUT_DIR/qc_marks.tsv)")
    p.set_defaults(func=run, parser=p)


def default_bundle() -> Path | None:
    """The bundled model shipped in resources/models (None if this install has none)."""
    from volta_core.io.resources import resource_path

    models = resource_path("models")
    if not models.is_dir():
        return None
    bundles = sorted(p.parent for p in models.glob("*/model_card.json"))
    return bundles[0] if bundles else None


BIDS_LEVELS = ("participant", "group")
_BIDS_ONLY = ("participant_label", "session_label", "shard", "qc_marks")


def _usage_error(args: argparse.Namespace, message: str) -> int:
    parser = getattr(args, "parser", None)
    if parser is not None:
        parser.error(message)  # exits 2 with the usage
    print(f"error: {message}", file=sys.stderr)
    return 2


def is_bids_app_call(inputs: list[str]) -> bool:
    """``BIDS_DIR OUT_DIR participant|group`` (a file that happens to be named so keeps the old meaning)."""
    return len(inputs) == 3 and inputs[2] in BIDS_LEVELS and not Path(inputs[2]).exists()


def run(args: argparse.Namespace) -> int:
    if is_bids_app_call(args.inputs):
        if args.out is not None:
            return _usage_error(args, "the BIDS-App form takes OUT_DIR as its second argument: drop --out")
        if getattr(args, "fine_grid", False):
            return _usage_error(args, "--fine-grid is for the files-and-folders form: BIDS derivatives stay on "
                                      "the scan's own grid")
        return run_bids_app(args)
    if args.out is None:
        return _usage_error(args, "the following arguments are required: --out (or use the BIDS-App form: "
                                  "volta predict BIDS_DIR OUT_DIR participant|group)")
    given = [f"--{name.replace('_', '-')}" for name in _BIDS_ONLY if getattr(args, name, None)]
    if given:
        return _usage_error(args, f"{', '.join(given)} only apply to the BIDS-App form "
                                  "(volta predict BIDS_DIR OUT_DIR participant|group)")
    return run_flat(args)


def run_bids_app(args: argparse.Namespace) -> int:
    """``volta predict BIDS_DIR OUT_DIR participant|group``."""
    bids_dir, out_dir, level = Path(args.inputs[0]), Path(args.inputs[1]), args.inputs[2]
    try:
        same = out_dir.resolve() == bids_dir.resolve()
    except OSError:
        same = False
    if same:
        print("error: OUT_DIR must not be the BIDS dataset itself; use e.g. BIDS_DIR/derivatives/volta",
              file=sys.stderr)
        return 2
    if level == "group":
        from volta_core.infer.bids_app.group import run_group

        return run_group(args, bids_dir, out_dir)
    from volta_core.infer.bids_app.participant import run_participant

    bundle = args.model or default_bundle()
    if bundle is None:
        print("error: no model bundle given and none is bundled; pass --model BUNDLE", file=sys.stderr)
        return 2
    return run_participant(args, bids_dir, out_dir, Path(bundle))


def run_flat(args: argparse.Namespace) -> int:
    """``volta predict INPUT... --out DIR``."""
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
    for line in predictor.head_caveats():
        print(line, file=sys.stderr)
    if args.segmenter == "t1" and predictor.t1_segmenter is None:
        print(f"error: the model {predictor.card.name} has no T1 segmenter; use --segmenter auto or general",
              file=sys.stderr)
        return 2
    options = BatchOptions(tta=args.tta, volume_index=args.volume, nan_to_zero=args.nan_to_zero,
                           fine_grid=args.fine_grid, segmenter=args.segmenter)
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
