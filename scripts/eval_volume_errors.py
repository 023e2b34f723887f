"""Where a hippocampus volume error comes from: which true labels the extra voxels are, and what
the missing ones were called.

Renders individual label maps (T1-like, as ``evaluate_individual`` does), runs the whole
``volta predict`` pipeline, and for each side prints the true and predicted volume, the false
positives by their true FreeSurfer label and the false negatives by the predicted class. Use it on
an atrophic and on a large map to see whether the model fills the space atrophy leaves (extra
voxels in CSF, label 24, and the inferior lateral ventricle, 5 / 44) or trims large hippocampi.

Usage::

    .venv/bin/python scripts/eval_volume_errors.py DATA/training_label_maps 01 04
    .venv/bin/python scripts/eval_volume_errors.py MAPS 05 --model BUNDLE --contrast random --json out.json

Labels are FreeSurfer ids (``labels table.txt`` beside the maps names them); the classes are the
model's (0 background, 1 / 2 hippocampus L / R, 3 / 4 amygdala, 5 / 6 inferior lateral ventricle).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

HIPPOCAMPUS = ((1, 17, "left"), (2, 53, "right"))  # (class, FreeSurfer id, side)


def errors_of(predicted: np.ndarray, fs_ids: np.ndarray, voxel_ml: float, top: int = 6) -> dict[str, Any]:
    """Per side: volumes (mL), false positives by true label and false negatives by predicted class."""
    out: dict[str, Any] = {}
    for cls, fs_id, side in HIPPOCAMPUS:
        extra = (predicted == cls) & (fs_ids != fs_id)
        missing = (predicted != cls) & (fs_ids == fs_id)
        ids, counts = np.unique(fs_ids[extra], return_counts=True)
        order = np.argsort(counts)[::-1][:top]
        called, n_called = np.unique(predicted[missing], return_counts=True)
        out[side] = {"true_ml": float((fs_ids == fs_id).sum() * voxel_ml),
                     "predicted_ml": float((predicted == cls).sum() * voxel_ml),
                     "extra_voxels": int(extra.sum()), "missing_voxels": int(missing.sum()),
                     "extra_by_true_label": {int(ids[i]): int(counts[i]) for i in order},
                     "missing_by_predicted_class": {int(c): int(n) for c, n in zip(called, n_called)}}
    return out


def main(argv: list[str] | None = None) -> int:
    import nibabel as nib

    from volta_core.infer.cli_predict import default_bundle
    from volta_core.infer.predictor import Predictor
    from volta_core.io import Volume
    from volta_core.train.heldout_individual import CONTRASTS, render_map

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("maps", type=Path, help="folder of training_seg_NN.nii.gz label maps")
    p.add_argument("ids", nargs="+", help="map numbers, e.g. 01 04")
    p.add_argument("--model", type=Path, default=None, help="bundle (default: the shipped one)")
    p.add_argument("--contrast", choices=CONTRASTS, default="t1")
    p.add_argument("--seed", type=int, default=0, help="rendering seed")
    p.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = p.parse_args(argv)
    paths = {map_id: args.maps / f"training_seg_{map_id}.nii.gz" for map_id in args.ids}
    missing = [str(path) for path in paths.values() if not path.is_file()]
    if missing:
        raise SystemExit("no label map " + ", ".join(missing))
    bundle = args.model or default_bundle()
    if bundle is None:
        raise SystemExit("no model: give --model BUNDLE (this install has none in resources/models)")
    predictor = Predictor.from_bundle(bundle, "cpu")
    results = {}
    for map_id, path in paths.items():
        image = nib.load(str(path))
        fs_ids = np.asarray(image.dataobj).astype(np.int32)
        scan = Volume(render_map(fs_ids, args.contrast, args.seed), image.affine.astype(np.float64))
        predicted = np.asarray(predictor.predict(scan, name=path.name).labels)
        results[map_id] = errors_of(predicted, fs_ids, float(np.prod(image.header.get_zooms()[:3])) / 1000.0)
        for side, r in results[map_id].items():
            print(f"map {map_id} {side}: true {r['true_ml']:.2f} mL, predicted {r['predicted_ml']:.2f} mL; "
                  f"{r['extra_voxels']} extra voxels, true labels {r['extra_by_true_label']}; "
                  f"{r['missing_voxels']} missing, called {r['missing_by_predicted_class']}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
