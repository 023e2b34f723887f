"""Does the sex head give the same answer on a full-head scan as on the same scan skull-stripped?

The sex head was trained on 72 skull-stripped scans (OpenNeuro ds002748) and is shipped for
full-head scans from other sites too, where nobody here knows the sex. What can be measured is
consistency (``volta_core/train/fullhead_consistency.py``): the 20 individual label maps
rendered as T1-like whole-head scans and the same images brain-extracted, plus fsaverage
``orig.mgz`` with and without its ``brainmask.mgz``.

This script compares inputs for the head: ``plain`` (the model's view as the segmentation sees it)
and ``masked`` (the view times the template brain mask on the model grid, zero outside, so head
and no head look more alike to the encoder), also with the mask eroded (``--erode``). For each, the
linear probe is fitted on the 72 real scans' features of that input. Reported: cross-validated
AUROC on the 72 (5 folds by subject, the build script's folds), and for the pairs the logit
change full head minus stripped in units of the between-subject sd of the 72 scans' logits, and
how many pairs change side (P >= 0.5).

Usage (after ``scripts/build_sex_head.py`` has cached ``OUT/inputs.npz``)::

    .venv/bin/python scripts/eval_sex_fullhead.py --inputs runs/sex5/inputs.npz \\
        --label-maps DATA/synthseg --out runs/sex_fullhead
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from volta_core.infer.predictor import Predictor  # noqa: E402
from volta_core.preprocess.pipeline import template_brain_on_model_grid  # noqa: E402
from volta_core.train.cv import subject_kfold  # noqa: E402
from volta_core.train.fullhead_consistency import logit_changes, prepare_pairs  # noqa: E402
from volta_core.train.linear_probe import fit_probe, probe_features  # noqa: E402
from volta_core.train.metrics import auroc  # noqa: E402

PROBE_C = 0.05  # as scripts/build_sex_head.py


def log(msg: str) -> None:
    print(f"[sex-fullhead {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, default=ROOT / "resources" / "models" / "volta3d-hippocampus")
    parser.add_argument("--inputs", type=Path, required=True, help="OUT/inputs.npz of scripts/build_sex_head.py")
    parser.add_argument("--label-maps", type=Path, required=True, help="the individual label-map folder")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "sex_fullhead")
    parser.add_argument("--erode", type=int, nargs="*", default=[2, 4],
                        help="also try the template brain mask eroded by these many model-grid voxels")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    data = dict(np.load(args.inputs, allow_pickle=False))
    x, y = data["x"].astype(np.float32), data["sex"].astype(int)
    subjects = [str(s) for s in data["subjects"]]
    predictor = Predictor.from_bundle(args.bundle, device="cpu")
    if json.dumps(predictor.card.input, sort_keys=True) != str(data["spec"]):
        raise SystemExit(f"{args.inputs} was prepared for another input view than {args.bundle}'s")
    pairs = prepare_pairs(predictor, args.label_maps, log=log)
    model = predictor.model.eval()
    folds = subject_kfold(subjects, 5, seed=0, labels=list(y))
    results: dict[str, object] = {"pairs": pairs.names, "n_subjects": len(y)}
    def brain(erode: int) -> np.ndarray:
        return template_brain_on_model_grid(predictor.spec, predictor.template, erode_voxels=erode).astype(np.float32)

    masks = {"plain": np.ones(x.shape[1:], dtype=np.float32), "masked": brain(0),
             **{f"masked, eroded {k} voxels": brain(k) for k in args.erode}}
    for variant, m in masks.items():
        f72 = probe_features(model, x * m)
        oof = np.zeros(len(y))
        for fold in folds:
            tr, te = np.asarray(fold.train), np.asarray(fold.val)
            oof[te] = fit_probe(f72[tr], y[tr], c=PROBE_C).probability(f72[te])
        probe = fit_probe(f72, y, c=PROBE_C)
        r = {"cv_auroc": float(auroc(y, oof)),
             **logit_changes(lambda v: probe.logit(probe_features(model, v * m)), pairs,  # noqa: B023
                             float(np.std(probe.logit(f72))))}
        results[variant] = r
        log(f"{variant}: CV AUROC {r['cv_auroc']:.3f}; full head - stripped: mean |d| {r['mean_abs_delta_sd']:.2f} sd, "
            f"max {r['max_abs_delta_sd']:.2f} sd, {r['side_changes']} of {r['n_pairs']} pairs change side")
    (args.out / "sex_fullhead.json").write_text(json.dumps(results, indent=1), encoding="utf-8")
    lines = ["| sex head input | CV AUROC (72 real) | mean / max \\|logit change\\| full head vs stripped (sd of 72) "
             "| pairs that change side |", "|---|---|---|---|"]
    for variant in masks:
        r = results[variant]
        lines.append(f"| {variant} | {r['cv_auroc']:.3f} | {r['mean_abs_delta_sd']:.2f} / {r['max_abs_delta_sd']:.2f} "
                     f"| {r['side_changes']} of {r['n_pairs']} |")
    (args.out / "sex_fullhead.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
