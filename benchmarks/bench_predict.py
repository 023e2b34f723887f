"""End-to-end prediction time on one 256^3 1 mm T1, per stage, and for a batch of 10.

Usage: python benchmarks/bench_predict.py [--bundle BUNDLE] [--threads 2] [--batch 10] [--scan FILE] [--fine-grid]

``--scan`` times another scan than the sample (e.g. one with thick slices); ``--fine-grid`` cuts
its voxels to about 1 mm first, as ``volta predict --fine-grid`` does (the cut is timed with the load).

Without --bundle it uses the bundled model, or (if none is shipped yet) a stand-in with random
weights and the shipped design's compute: vit3d_small + UNETR (feature size 8) on a 96x64x64
hippocampus region of interest at 1 mm in template space. Timing only: a random model's
probabilities cover the whole region, so its inverse step is slower than a trained model's.
Prints a Markdown table. Peak memory is the maximum resident set of a fresh `volta predict`
process on one scan (start-up included).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _random_bundle(folder: Path) -> Path:
    import torch

    from volta_core.contracts.model_card import DEFAULT_LABELS, ModelCard
    from volta_core.model.bundle import save_bundle
    from volta_core.model.networks import build_segmenter

    torch.manual_seed(0)
    model = build_segmenter("vit3d_small", feature_size=8, img_size=(96, 64, 64))
    card = ModelCard(
        name="benchmark-random-vit3d_small-roi",
        architecture={"encoder": "vit3d_small", "overrides": {"img_size": [96, 64, 64]}, "model": "segmenter",
                      "num_classes": 3, "decoder": {"feature_size": 8,
                                                    "tap_layers": list(model.decoder.tap_layers)}},
        input={"spacing_mm": [1.0, 1.0, 1.0], "size": [96, 64, 64], "orientation": "RAS",
               "normalisation": "percentile", "space": "template", "roi": "hippocampus"},
        heads={"segmentation": {"trained": False, "labels": DEFAULT_LABELS["segmentation"]}},
    )
    return save_bundle(folder / "bench-bundle", model.state_dict(), card)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bundle", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--scan", type=Path, default=None, help="scan to time (default: the sample scan)")
    parser.add_argument("--fine-grid", action="store_true", help="predict on the scan's grid cut to about 1 mm")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from volta_core.infer.cli_predict import default_bundle
    from volta_core.infer.export import write_prediction
    from volta_core.infer.predictor import Predictor
    from volta_core.io import load_volume, sample_scan_path
    from volta_core.preprocess.resample import subdivide_grid

    tmp = Path(tempfile.mkdtemp(prefix="volta-bench-"))
    bundle = args.bundle or default_bundle() or _random_bundle(tmp)
    scan_path = args.scan or sample_scan_path()

    started = time.perf_counter()
    predictor = Predictor.from_bundle(bundle, device="cpu")
    load_model_s = time.perf_counter() - started

    rows: list[tuple[str, float]] = []
    totals = []
    for i in range(args.batch):
        t0 = time.perf_counter()
        volume = load_volume(scan_path)
        if args.fine_grid:
            volume = subdivide_grid(volume)
        t_load = time.perf_counter() - t0
        pred = predictor.predict(volume, name=f"scan{i}")
        t1 = time.perf_counter()
        write_prediction(pred, volume, tmp / "out", f"scan{i}")
        t_write = time.perf_counter() - t1
        totals.append(time.perf_counter() - t0)
        if i == 0:
            tm = pred.timings
            rows = [
                ("load" + (" + cut to 1 mm" if args.fine_grid else "") + f" ({scan_path.name})", t_load),
                ("register to template", tm.get("preprocess.register", 0.0)),
                ("reorient + resample (one affine)", tm.get("preprocess.resample", 0.0)),
                ("normalise", tm.get("preprocess.normalise", 0.0)),
                ("model (encoder + decoder)", tm["model"]),
                ("inverse to scan grid", tm["inverse"]),
                ("measure + QC", tm["measure"]),
                ("write mask + JSON", t_write),
            ]

    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "volta_core.cli", "predict", str(scan_path), "--out",
                           str(tmp / "single"), "--model", str(bundle), "--device", "cpu", "--quiet",
                           "--threads", str(args.threads), *(["--fine-grid"] if args.fine_grid else [])], env=env, capture_output=True, text=True)
    single = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    if proc.returncode != 0:
        print(proc.stderr, file=sys.stderr)

    print(f"model: {predictor.card.name}; threads: {args.threads}; cores: {os.cpu_count()}; scan: {scan_path.name}"
          f"{' on a 1 mm grid (--fine-grid)' if args.fine_grid else ''}")
    print()
    print("| stage (first scan of the batch) | seconds |")
    print("|---|---|")
    for name, seconds in rows:
        print(f"| {name} | {seconds:.2f} |")
    print(f"| **total, first scan** | **{totals[0]:.2f}** |")
    print()
    print("| measure | value |")
    print("|---|---|")
    print(f"| load model bundle | {load_model_s:.2f} s |")
    print(f"| per scan in a batch of {args.batch} (model loaded once), mean ± sd | "
          f"{np.mean(totals):.2f} ± {np.std(totals):.2f} s |")
    print(f"| single scan, `volta predict` process incl. start-up | {single:.2f} s |")
    print(f"| peak memory of that process | {peak_mb:.0f} MB |")


if __name__ == "__main__":
    main()
