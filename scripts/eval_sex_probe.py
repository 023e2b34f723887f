"""Sex from real T1 scans: how much is head size, how much does the encoder add?

Reads what ``scripts/eval_real_scans.py --features`` wrote (``real_scans.tsv`` with ICV and
the sex from ``participants.tsv``; ``features.npz`` with pooled encoder features per scan)
and runs, on the same 5 folds by subject (stratified by sex, fixed seed):

* ``icv``: logistic regression on the ICV estimate alone (head size is a strong sex cue;
  a head that only learns size is not worth shipping);
* ``probe``: a linear probe (L2 logistic regression) on the encoder's pooled features;
* ``probe+icv``: both.

Prints AUROC per fold, pooled out-of-fold AUROC with a 95 % bootstrap interval (2000
resamples of subjects), and writes ``OUT/sex_probe.json``.

Usage::

    .venv/bin/python scripts/eval_sex_probe.py runs/real_scans
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from volta_core.train.cv import subject_kfold  # noqa: E402
from volta_core.train.metrics import auroc  # noqa: E402


def bootstrap_ci(y: np.ndarray, s: np.ndarray, n: int = 2000, seed: int = 0) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(n):
        idx = rng.integers(0, len(y), len(y))
        if y[idx].min() != y[idx].max():
            values.append(auroc(y[idx], s[idx]))
    lo, hi = np.percentile(values, [2.5, 97.5])
    return float(lo), float(hi)


def out_of_fold(x: np.ndarray, y: np.ndarray, folds: list, c: float) -> tuple[np.ndarray, list[float]]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scores = np.zeros(len(y))
    per_fold = []
    for fold in folds:
        scaler = StandardScaler().fit(x[fold.train])
        model = LogisticRegression(C=c, max_iter=2000).fit(scaler.transform(x[fold.train]), y[fold.train])
        scores[fold.val] = model.predict_proba(scaler.transform(x[fold.val]))[:, 1]
        per_fold.append(auroc(y[fold.val], scores[fold.val]))
    return scores, per_fold


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="output folder of eval_real_scans.py --features")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    with open(args.run / "real_scans.tsv", newline="", encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle, delimiter="\t") if r.get("status") == "ok"]
    feats = np.load(args.run / "features.npz")
    by_subject = dict(zip(feats["subjects"].tolist(), feats["features"]))
    rows = [r for r in rows if r["subject"] in by_subject and r.get("gender", r.get("sex", "")).lower()[:1] in "mf"]
    y = np.array([1 if r.get("gender", r.get("sex", "")).lower().startswith("m") else 0 for r in rows])
    icv = np.array([[float(r["icv_ml"])] for r in rows])
    features = np.stack([by_subject[r["subject"]] for r in rows])
    folds = subject_kfold([r["subject"] for r in rows], args.folds, seed=args.seed, labels=["M" if v else "F" for v in y])
    results = {}
    for name, x, c in (("icv", icv, 1.0), ("probe", features, 0.1), ("probe+icv", np.hstack([features, icv]), 0.1)):
        scores, per_fold = out_of_fold(x, y, folds, c)
        lo, hi = bootstrap_ci(y, scores)
        results[name] = {"auroc": auroc(y, scores), "ci95": [lo, hi], "per_fold": per_fold,
                         "fold_mean": float(np.mean(per_fold)), "fold_sd": float(np.std(per_fold, ddof=1))}
    results["n"] = {"subjects": len(y), "male": int(y.sum()), "female": int(len(y) - y.sum()), "folds": args.folds}
    (args.run / "sex_probe.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    print(f"{len(y)} subjects ({int(y.sum())} M / {int(len(y) - y.sum())} F), {args.folds} folds by subject")
    print("| predictor | AUROC (out of fold) | 95 % CI | per fold mean ± sd |")
    print("|---|---|---|---|")
    for name in ("icv", "probe", "probe+icv"):
        r = results[name]
        print(f"| {name} | {r['auroc']:.3f} | {r['ci95'][0]:.2f}–{r['ci95'][1]:.2f} | "
              f"{r['fold_mean']:.2f} ± {r['fold_sd']:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
