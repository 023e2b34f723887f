"""What do an encoder's features of real scans carry? Subject traits vs. image nuisances.

Usage::

    .venv/bin/python scripts/diagnose_encoder.py --inputs runs/sex_head/inputs.npz --t1 DATA/ds002748 \\
        --encoder shipped=resources/models/volta3d-hippocampus --encoder real=runs/build-model/pretrain/bundle

For each encoder (and a random-init one of the same architecture) it takes the probe features
of the model's own view of every scan (``build_sex_head.py``'s cached inputs, ``inputs.npz``)
and reports, with 5-fold cross-validation by subject:

* how well a ridge regression from the features predicts subject traits (age, ICV) and image
  nuisances (mean and spread of the input intensities, brightness of the darkest decile), as
  cross-validated R²;
* the features' effective dimension (participation ratio of the covariance spectrum) and the
  mean cosine similarity between subjects (how alike the encoder finds all scans).

With ``--synthetic N --label-maps DIR`` it also draws N synthetic brains of the real-pretraining
recipe (DK + the training maps) and compares the two clouds of features: effective dimension and
spread of each, and the distance between their centroids (is "real vs. synthetic" what the
encoder learned to tell apart?).

An encoder whose features mostly encode intensity statistics, or that finds all real scans
alike, has little room left for the anatomy a head needs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from volta_core.data.real_data import read_participants  # noqa: E402
from volta_core.model.bundle import build_model  # noqa: E402
from volta_core.train.cv import subject_kfold  # noqa: E402
from volta_core.train.linear_probe import load_bundle_model, probe_features  # noqa: E402


def cv_r2(features: np.ndarray, target: np.ndarray, subjects: list[str], alpha: float = 10.0) -> float:
    """Cross-validated R² of a ridge regression on standardised features (5 folds by subject)."""
    pred = np.zeros(len(target))
    for fold in subject_kfold(subjects, 5, seed=0):
        tr, te = np.asarray(fold.train), np.asarray(fold.val)
        mu, sd = features[tr].mean(0), features[tr].std(0) + 1e-6
        a, b = (features[tr] - mu) / sd, (features[te] - mu) / sd
        ym = target[tr].mean()
        w = np.linalg.solve(a.T @ a + alpha * len(tr) * np.eye(a.shape[1]), a.T @ (target[tr] - ym))
        pred[te] = b @ w + ym
    return float(1.0 - np.sum((target - pred) ** 2) / np.sum((target - target.mean()) ** 2))


def geometry(features: np.ndarray) -> dict[str, float]:
    centred = features - features.mean(0)
    eig = np.clip(np.linalg.eigvalsh(np.cov(centred.T)), 0, None)
    unit = features / np.linalg.norm(features, axis=1, keepdims=True)
    sim = unit @ unit.T
    off = sim[~np.eye(len(sim), dtype=bool)]
    return {"effective_dim": float(eig.sum() ** 2 / (eig ** 2).sum()), "mean_cosine": float(off.mean())}


def synthetic_views(n: int, label_maps: str) -> np.ndarray:
    """``n`` synthetic brains of configs/recipe_pretrain_real.yaml's stream, on the model's view."""
    from volta_core.config import PretrainConfig, load_config
    from volta_core.data.synth.volumes import synth_volumes

    overrides = [f"synth.n_train={n}"] + ([f"synth.label_maps={label_maps}"] if label_maps else ["synth.subset=dk"])
    cfg = load_config(PretrainConfig, ROOT / "configs" / "recipe_pretrain_real.yaml", overrides)
    volumes = synth_volumes(cfg.synth, cfg.data, with_masks=False)
    return np.stack([volumes[i].image for i in range(len(volumes))])


def domain_gap(real: np.ndarray, synthetic: np.ndarray) -> dict[str, float]:
    """Effective dimension and spread (mean distance to the centroid) of each cloud, and the
    distance between the two centroids."""
    def spread(f: np.ndarray) -> float:
        return float(np.linalg.norm(f - f.mean(0), axis=1).mean())

    return {"synthetic effective_dim": geometry(synthetic)["effective_dim"], "real spread": spread(real),
            "synthetic spread": spread(synthetic),
            "centroid distance": float(np.linalg.norm(real.mean(0) - synthetic.mean(0)))}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--inputs", type=Path, required=True, help="build_sex_head.py's inputs.npz")
    p.add_argument("--t1", type=Path, required=True, help="the BIDS folder (participants.tsv: age)")
    p.add_argument("--encoder", action="append", required=True, metavar="NAME=BUNDLE")
    p.add_argument("--out", type=Path, default=None, help="write the results as JSON")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--synthetic", type=int, default=0, help="also compare with N synthetic brains")
    p.add_argument("--label-maps", default="", help="individual label maps for the synthetic brains")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    data = np.load(args.inputs, allow_pickle=False)
    x, icv, subjects = data["x"].astype(np.float32), data["icv"], [str(s) for s in data["subjects"]]
    rows = read_participants(args.t1)
    age = np.asarray([float(rows.get(s, {}).get("age", "nan")) for s in subjects])
    inside = x > 0.02  # the view's voxels with signal (the ROI is inside the skull-stripped brain)
    nuisance = {
        "mean intensity": np.asarray([v[m].mean() for v, m in zip(x, inside)]),
        "intensity spread (sd)": np.asarray([v[m].std() for v, m in zip(x, inside)]),
        "darkest decile": np.asarray([np.percentile(v[m], 10) for v, m in zip(x, inside)]),
    }
    traits = {"age": age, "ICV": icv}
    encoders = dict(item.split("=", 1) for item in args.encoder)
    models = {name: load_bundle_model(path)[1].eval() for name, path in encoders.items()}
    card = load_bundle_model(next(iter(encoders.values())))[0]
    torch.manual_seed(0)
    models["random"] = build_model(card).eval()
    synthetic = synthetic_views(args.synthetic, args.label_maps) if args.synthetic else None
    results: dict[str, dict[str, float]] = {}
    for name, model in models.items():
        feats = probe_features(model, x)
        if synthetic is not None:
            results.setdefault(name, {}).update(domain_gap(feats, probe_features(model, synthetic)))
        ok = ~np.isnan(age)
        r = {f"R2 {k}": cv_r2(feats[ok] if k == "age" else feats, v[ok] if k == "age" else v,
                              [s for s, o in zip(subjects, ok) if o] if k == "age" else subjects)
             for k, v in {**traits, **nuisance}.items()}
        results[name] = {**r, **geometry(feats), **results.get(name, {})}
    keys = list(next(iter(results.values())))
    print("| encoder | " + " | ".join(keys) + " |")
    print("|---" * (len(keys) + 1) + "|")
    for name, r in results.items():
        print(f"| {name} | " + " | ".join(f"{r[k]:.2f}" for k in keys) + " |")
    if args.out:
        args.out.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
