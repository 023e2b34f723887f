"""What Dice can any model reach on a thick-slice scan, when its mask lives on the scan's grid?

The held-out degradation test (``volta_core.train.heldout``) predicts on the degraded scan and
scores the mask, on the scan's own grid, against the 1 mm reference labels (nearest neighbour
back onto the reference grid). On a scan with 6 mm slices that mask is 6 mm thick too, so even
the true labels, brought onto that grid, lose Dice. This script measures, for each coarse-grid
degradation of the fsaverage test scan:

- ``ceiling``: the true hippocampus masks block-averaged onto the degraded scan's grid (the
  partial-volume fractions a perfect soft model would output there), labelled by the
  predictor's two-class rule and scored like the model;
- ``model``: the bundled model, exactly as the degradation table scores it (mask on the scan grid);
- ``model, fine grid``: the bundled model on the scan's grid subdivided to about 1 mm voxels
  (``volta predict --fine-grid``; for these block-averaged scans that grid is the 1 mm reference
  grid itself).

Usage::

    .venv/bin/python scripts/eval_thick_slice_ceiling.py [--bundle DIR] [--out FILE]

Prints a table and writes ``--out`` (JSON).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from volta_core.infer.cli_predict import default_bundle  # noqa: E402
from volta_core.infer.predictor import Predictor, two_class_labels  # noqa: E402
from volta_core.io.volume import Volume  # noqa: E402
from volta_core.preprocess.resample import subdivide_grid  # noqa: E402
from volta_core.train.heldout import (DEGRADATIONS, _labels_on_reference, block_average,  # noqa: E402
                                      reference_case, thick_slices)
from volta_core.train.metrics import segmentation_metrics  # noqa: E402

GRID_DEGRADATIONS = {
    "clean": lambda v: v,
    "thick_3mm": lambda v: thick_slices(v, 3.0),
    "thick_6mm": lambda v: thick_slices(v, 6.0),
    "resolution_2mm": lambda v: block_average(v, (2, 2, 2)),
}


def ceiling_labels(case, degrade) -> tuple[np.ndarray, Volume]:
    """True labels as a perfect model would give them on the degraded grid (partial volumes, two-class rule)."""
    fractions = [degrade(Volume((case.labels == c).astype(np.float32), case.image.affine)) for c in (1, 2)]
    left, right = (f.data for f in fractions)
    return two_class_labels(1.0 - left - right, left, right), fractions[0]


def score(labels_on_reference: np.ndarray, case) -> dict[str, float]:
    m = segmentation_metrics(labels_on_reference, case.labels, case.image.spacing)
    return {k: float(m[k]) for k in ("dice_left", "dice_right", "volume_error_left", "volume_error_right")}


def model_on_grids(predictor: Predictor, case, scan: Volume) -> tuple[dict, dict]:
    """The model's mask on the scan grid, and on the subdivided grid (``volta predict --fine-grid``)."""
    prediction = predictor.predict(scan)
    on_scan = score(_labels_on_reference(np.asarray(prediction.labels), scan, case.image), case)
    fine = subdivide_grid(scan)
    prediction = predictor.predict(fine)
    return on_scan, score(_labels_on_reference(np.asarray(prediction.labels), fine, case.image), case)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, default=None, help="model bundle (default: the shipped one)")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "thick_slice_ceiling.json")
    args = parser.parse_args(argv)
    predictor = Predictor.from_bundle(args.bundle or default_bundle(), "cpu")
    case = reference_case("fsaverage")
    results = {}
    for name, degrade in GRID_DEGRADATIONS.items():
        labels, grid = ceiling_labels(case, degrade)
        ceiling = score(_labels_on_reference(labels, grid, case.image), case)
        scan = degrade(case.image)
        on_scan, fine = model_on_grids(predictor, case, scan)
        results[name] = {"description": DEGRADATIONS[name][0], "spacing_mm": [float(s) for s in scan.spacing],
                         "ceiling": ceiling, "model": on_scan, "model_fine_grid": fine}
        print(f"{name}: ceiling {ceiling['dice_left']:.3f} / {ceiling['dice_right']:.3f}, model "
              f"{on_scan['dice_left']:.3f} / {on_scan['dice_right']:.3f}, model on 1 mm "
              f"{fine['dice_left']:.3f} / {fine['dice_right']:.3f}", flush=True)

    def mean(row: dict) -> float:
        return (row["dice_left"] + row["dice_right"]) / 2

    clean = results["clean"]
    print("\n| scan | ceiling on the scan grid (L / R) | model, mask on the scan grid | vs clean | "
          "model, mask at 1 mm | vs clean |\n|---|---|---|---|---|---|")
    for name, row in results.items():
        c, m, f = row["ceiling"], row["model"], row["model_fine_grid"]
        print(f"| {name} | {c['dice_left']:.3f} / {c['dice_right']:.3f} | {m['dice_left']:.3f} / "
              f"{m['dice_right']:.3f} | {mean(m) - mean(clean['model']):+.3f} | {f['dice_left']:.3f} / "
              f"{f['dice_right']:.3f} | {mean(f) - mean(clean['model_fine_grid']):+.3f} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
