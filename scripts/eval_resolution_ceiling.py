"""How much Dice and volume does the model grid's resolution cost by itself?

A perfect model on the model grid can do no better than the true labels brought onto that grid
and back. For each held-out individual label map (every 5th SynthSeg map; README "Real data for
the recipe") this script renders the map's T1-like image on its own 1 mm grid, registers and
crops it exactly as ``volta predict`` does, resamples the true hippocampus masks onto the model
grid (linear: partial-volume fractions, what a perfect soft model would output) and maps those
back onto the 1 mm grid with the predictor's own inverse (``SpatialRecord.to_native``, linear,
the same two-class rule). The Dice and volume error of that round trip are the ceiling a model
at that grid spacing can reach. Compared: the shipped 1.5 mm grid (64 x 48 x 48) and 1 mm
(96 x 72 x 72, the same field of view).

Usage::

    .venv/bin/python scripts/eval_resolution_ceiling.py DATA/synthseg/data/training_label_maps

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

from volta_core.data.synth import fs_labels as fsl  # noqa: E402
from volta_core.data.synth.sources import label_map_specs  # noqa: E402
from volta_core.infer.predictor import two_class_labels  # noqa: E402
from volta_core.io.volume import Volume  # noqa: E402
from volta_core.preprocess.pipeline import ModelInputSpec, preprocess  # noqa: E402
from volta_core.preprocess.template import load_template  # noqa: E402
from volta_core.train.heldout_individual import render_map  # noqa: E402
from volta_core.train.metrics import dice, volume_error  # noqa: E402

GRIDS = {"1.5 mm (shipped)": (1.5, (64, 48, 48)), "1 mm": (1.0, (96, 72, 72))}


def round_trip(ids: np.ndarray, affine: np.ndarray, spacing: float, size: tuple[int, int, int], template,
               registration=None):
    image = Volume(render_map(ids, "t1", 0), affine)
    spec = ModelInputSpec(spacing=(spacing,) * 3, size=size, roi="hippocampus")
    prep = preprocess(image, spec, template=template, registration=registration)
    truth = [ids == fsl.LEFT_HIPPOCAMPUS, ids == fsl.RIGHT_HIPPOCAMPUS]
    fractions = [prep.record.to_model(t.astype(np.float32), order=1) for t in truth]
    probs = np.stack([np.clip(1.0 - fractions[0] - fractions[1], 0, 1), *fractions])
    spatial = prep.record.spatial
    back = [spatial.to_native(probs[c], order=1, fill=1.0 if c == 0 else 0.0) for c in range(3)]
    decided = two_class_labels(*back)
    left, right = decided == 1, decided == 2
    out = {}
    for side, mask, ref in (("left", left, truth[0]), ("right", right, truth[1])):
        out[f"dice_{side}"] = dice(mask, ref)
        out[f"volume_error_{side}"] = volume_error(mask, ref)["rel"]
    return out, prep.record.registration


def main(argv: list[str] | None = None) -> int:
    import nibabel as nib

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("label_maps", type=Path)
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "resolution_ceiling.json")
    args = parser.parse_args(argv)
    template = load_template()
    specs = [s for s in label_map_specs(args.label_maps) if s.subset == "individual_heldout"]
    results: dict[str, list[dict]] = {name: [] for name in GRIDS}
    for spec in specs:
        img = nib.load(str(spec.label_path))
        ids = np.asarray(img.dataobj).astype(np.int32)
        registration = None
        for name, (spacing, size) in GRIDS.items():
            row, registration = round_trip(ids, img.affine.astype(np.float64), spacing, size, template, registration)
            results[name].append({"map": spec.name, **row})
            print(f"{spec.name} {name}: Dice L {row['dice_left']:.3f} R {row['dice_right']:.3f}, volume "
                  f"{100 * row['volume_error_left']:+.1f} % / {100 * row['volume_error_right']:+.1f} %", flush=True)
    print("\n| model grid | ceiling Dice L | ceiling Dice R | volume error L / R |\n|---|---|---|---|")
    summary = {}
    for name, rows in results.items():
        mean = {k: float(np.mean([r[k] for r in rows])) for k in rows[0] if k != "map"}
        summary[name] = mean
        print(f"| {name} | {mean['dice_left']:.3f} | {mean['dice_right']:.3f} | "
              f"{100 * mean['volume_error_left']:+.1f} % / {100 * mean['volume_error_right']:+.1f} % |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"cases": results, "summary": summary}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
