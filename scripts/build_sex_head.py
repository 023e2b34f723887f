"""A sex head for a bundled model, trained and validated on real T1 scans with known sex.

Usage (after ``bash scripts/setup.sh --recipe``; README "Real data for the recipe")::

    .venv/bin/python scripts/build_sex_head.py --bundle resources/models/volta3d-hippocampus \\
        --t1 DATA/ds002748 --out runs/sex_head [--install resources/models/volta3d-hippocampus]

What it does, on the model's own input view (template space, the hippocampal region: the
same crop the segmentation sees, so head size is normalised away by the affine registration):

1. Every scan goes through the bundle's preprocessing once (registration included); the model
   inputs and the ICV estimate are cached in ``OUT/inputs.npz``.
2. 5-fold cross-validation by subject (stratified by sex, fixed seed), the same folds for:
   ``icv`` (logistic regression on the ICV estimate alone: head size is a strong sex cue);
   ``probe`` (a linear probe on the bundle encoder's pooled tokens, the shipped head's form);
   ``probe_random`` (the same on a randomly initialised encoder of the same architecture);
   ``finetune`` (encoder and head trained end to end from the bundle, equal steps per fold);
   ``probe+icv`` (the probe's out-of-fold score and ICV in one 2-feature logistic regression).
   Pooled out-of-fold AUROC with a 95 % bootstrap interval, and per-fold mean +- sd.
3. Few-shot: linear probes with 8, 16 and 32 labelled subjects (balanced by sex), 5 seeds,
   tested on the rest, bundle encoder vs random encoder: AUROC mean +- sd.
4. With ``--label-maps DIR``: full-head consistency. The shipped probe scores the folder's label
   maps rendered as T1-like whole-head scans and the same images brain-extracted (plus fsaverage
   with and without its head): how far the logit moves when the head is taken off, in sd of the
   training scans' logits (``volta_core/train/fullhead_consistency.py``; the head was trained on
   skull-stripped scans only). The card records it.
5. The shipped head: the linear probe fitted on all subjects, written as the ``sex`` head of a
   ``multitask`` bundle (the segmentation decoder and the encoder unchanged), with the card
   saying whom it has seen and how it measured. ``--install`` replaces the bundle there.

Writes ``OUT/sex_head.json`` (every number), ``OUT/sex_head.md`` (the README/card table) and
``OUT/bundle/``. Nothing is downloaded.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from volta_core.data.real_data import check_t1_folder, find_t1_scans, read_participants, sex_of  # noqa: E402
from volta_core.infer.intensity import robust_intensities  # noqa: E402
from volta_core.infer.predictor import Predictor  # noqa: E402
from volta_core.io import load_volume  # noqa: E402
from volta_core.model.bundle import build_model  # noqa: E402
from volta_core.preprocess.pipeline import preprocess, template_brain_on_model_grid  # noqa: E402
from volta_core.preprocess.register import intracranial_volume_ml  # noqa: E402
from volta_core.train.cv import subject_kfold  # noqa: E402
from volta_core.train.fullhead_consistency import logit_changes, prepare_pairs  # noqa: E402
from volta_core.train.linear_probe import (  # noqa: E402
    add_head,
    calibrated,
    fit_probe,
    load_bundle_model,
    probe_features,
    probe_head_state,
)
from volta_core.train.metrics import auroc  # noqa: E402
from volta_core.train.run_folder import code_version  # noqa: E402

AD_ONLY = ("The AD head is not trained: no AD-labelled scans exist on the build machine. The app and the CLI "
           "say 'not trained: fine-tune on your data' instead of a probability.")
PROBE_C = 0.05  # L2 strength of the linear probe (standardised features; 384 features, ~58 subjects)
# The head reads the view times the template brain mask eroded by 2 model-grid voxels (3 mm): chosen
# with scripts/eval_sex_fullhead.py among no mask, the mask, and erosions of 2, 4 and 6 voxels, on
# full-head vs brain-extracted renderings of 21 brains (logit change 1.96 sd of the 72 scans' spread
# without a mask, 0.38 sd with this one) and on the 72 scans' CV AUROC.
MASK_ERODE = 2


def log(msg: str) -> None:
    print(f"[sex-head {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ------------------------------------------------------------------------------------------
# inputs

def prepare_inputs(predictor: Predictor, t1: Path, out: Path) -> dict[str, np.ndarray]:
    """Model inputs (float16), ICV, sex (1 = M) and subject ids, cached by bundle input spec."""
    spec_key = json.dumps(predictor.card.input, sort_keys=True)
    cache = out / "inputs.npz"
    if cache.is_file():
        data = dict(np.load(cache, allow_pickle=False))
        if str(data["spec"]) == spec_key:
            return data
    report = check_t1_folder(t1, need_sex=True)
    if not report.ok:
        raise SystemExit("\n".join(report.problems))
    rows = read_participants(t1)
    xs, icv, sex, subjects = [], [], [], []
    for subject, path in find_t1_scans(t1):
        label = sex_of(rows.get(subject, {}))
        if label is None:
            continue
        volume, _ = robust_intensities(load_volume(path))
        prep = preprocess(volume, predictor.spec, template=predictor.template)
        registration = prep.record.registration
        icv.append(intracranial_volume_ml(predictor.template, registration))
        xs.append(prep.data.astype(np.float16))
        sex.append(1 if label == "M" else 0)
        subjects.append(subject)
        log(f"{subject}: {label}, ICV {icv[-1]:.0f} mL, registration quality {registration.quality:.2f}")
    data = {"x": np.stack(xs), "icv": np.asarray(icv), "sex": np.asarray(sex), "subjects": np.asarray(subjects),
            "spec": np.asarray(spec_key)}
    np.savez(cache, **data)
    return data


def _tokens(model: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    out = model.encoder(x)
    return out.cls_token, out.patch_tokens


# ------------------------------------------------------------------------------------------
# evaluation

def bootstrap_ci(y: np.ndarray, s: np.ndarray, n: int = 2000, seed: int = 0) -> list[float]:
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(n):
        idx = rng.integers(0, len(y), len(y))
        if y[idx].min() != y[idx].max():
            values.append(auroc(y[idx], s[idx]))
    return [float(v) for v in np.percentile(values, [2.5, 97.5])]


def probe_scores(xtr, ytr, xte, c: float = PROBE_C) -> np.ndarray:
    return fit_probe(xtr, ytr, c=c).probability(xte)


def summarise(y: np.ndarray, scores: np.ndarray, folds) -> dict:
    per_fold = [auroc(y[f.val], scores[f.val]) for f in folds]
    return {"auroc": float(auroc(y, scores)), "ci95": bootstrap_ci(y, scores), "per_fold": per_fold,
            "fold_mean": float(np.mean(per_fold)), "fold_sd": float(np.std(per_fold, ddof=1))}


def finetune_scores(bundle: Path, x: np.ndarray, y: np.ndarray, folds, steps: int, seed: int = 0) -> np.ndarray:
    """Out-of-fold P(male) of encoder + head trained end to end from the bundle, per fold."""
    from volta_core.model.heads.classifier import ClassificationHead

    scores = np.zeros(len(y))
    for k, fold in enumerate(folds):
        torch.manual_seed(seed + k)
        rng = np.random.default_rng(seed + k)
        _, model = _load(bundle)
        head = ClassificationHead(model.encoder.embed_dim, 2, True, None)
        params = [{"params": model.encoder.parameters(), "lr": 2e-5}, {"params": head.parameters(), "lr": 1e-3}]
        opt = torch.optim.AdamW(params, weight_decay=0.05)
        train = np.asarray(fold.train)
        pos, neg = train[y[train] == 1], train[y[train] == 0]
        model.train()
        for _ in range(steps):  # balanced batches of 4 (2 M, 2 F), random left-right flips
            idx = np.concatenate([rng.choice(pos, 2), rng.choice(neg, 2)])
            t = torch.from_numpy(x[idx].astype(np.float32))[:, None]
            if rng.random() < 0.5:
                t = torch.flip(t, dims=(2,))
            logits = head(*_tokens(model, t))
            loss = torch.nn.functional.cross_entropy(logits, torch.from_numpy(y[idx]).long())
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.eval()
        with torch.inference_mode():
            for i in fold.val:
                t = torch.from_numpy(x[i].astype(np.float32))[None, None]
                p = [torch.softmax(head(*_tokens(model, v)), 1)[0, 1] for v in (t, torch.flip(t, dims=(2,)))]
                scores[i] = float((p[0] + p[1]) / 2)
        log(f"fine-tune fold {k + 1}/{len(folds)}: AUROC {auroc(y[fold.val], scores[fold.val]):.3f}")
    return scores


def few_shot(features: dict[str, np.ndarray], y: np.ndarray, sizes=(8, 16, 32), seeds=5) -> dict:
    out: dict = {}
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    for n in sizes:
        out[str(n)] = {}
        for name, f in features.items():
            values = []
            for seed in range(seeds):
                rng = np.random.default_rng(1000 * n + seed)
                train = np.concatenate([rng.choice(pos, n // 2, replace=False), rng.choice(neg, n // 2, replace=False)])
                test = np.setdiff1d(np.arange(len(y)), train)
                values.append(auroc(y[test], probe_scores(f[train], y[train], f[test])))
            out[str(n)][name] = {"mean": float(np.mean(values)), "sd": float(np.std(values, ddof=1)), "values": values}
    return out


# ------------------------------------------------------------------------------------------
# the shipped head

def _load(bundle: Path):
    return load_bundle_model(bundle)


def full_head_check(predictor: Predictor, model: torch.nn.Module, features: np.ndarray, y: np.ndarray,
                    label_maps: Path, mask: np.ndarray) -> dict:
    """The shipped probe (fitted on all scans) on whole-head and brain-extracted renderings of the same brains."""
    probe = fit_probe(features, y, c=PROBE_C)
    pairs = prepare_pairs(predictor, label_maps, log=log)
    result = logit_changes(lambda v: probe.logit(probe_features(model, v * mask)), pairs,
                           float(np.std(probe.logit(features))))
    log(f"full head vs skull-stripped ({result['n_pairs']} pairs): logit change mean {result['mean_delta_sd']:+.2f} sd, "
        f"mean |change| {result['mean_abs_delta_sd']:.2f} sd, max {result['max_abs_delta_sd']:.2f} sd, "
        f"{result['side_changes']} change side")
    return result


def full_head_text(check: dict | None) -> str:
    """The card's words for the full-head check: its numbers, and "prefer skull-stripped scans" unless a
    head moves the score by under half the between-subject spread on average and never across 0.5."""
    if not check:
        return "untested on other sites, ages and full-head scans beyond the bundled sample"
    small = check["mean_abs_delta_sd"] < 0.5 and not check["side_changes"]
    return (f"untested on other sites and ages; on {check['n_pairs']} brains rendered with and without their head "
            f"(synthetic T1-like scans of individual label maps, and fsaverage) the logit moves by "
            f"{check['mean_abs_delta_sd']:.2f} sd of the training scans' spread on average (at most "
            f"{check['max_abs_delta_sd']:.2f} sd; mean shift {check['mean_delta_sd']:+.2f} sd, "
            f"{check['side_changes']} of {check['n_pairs']} changing side)" +
            (": a full head moves it by a fraction of the between-subject spread" if small else
             ": prefer skull-stripped scans"))


def write_bundle(bundle: Path, out: Path, features: np.ndarray, y: np.ndarray, results: dict,
                 ages: tuple[float, float], embed_dim: int, mask_erode: int) -> Path:
    card, _ = load_bundle_model(bundle)
    cv = results["cv"]
    n_m, n_f = int(y.sum()), int((1 - y).sum())
    seen = (f"adults {ages[0]:.0f}-{ages[1]:.0f}, one site (OpenNeuro ds002748), skull-stripped T1w, "
            f"{n_m} M / {n_f} F")
    where = f"{n_m + n_f} scans: {seen}"
    note = (f"weak cue: trained on {where}; cross-validated AUROC "
            f"{cv['probe']['auroc']:.2f}, head size alone {cv['icv']['auroc']:.2f}")
    head_card = {**card.heads.get("sex", {}), "trained": True, "labels": {"0": "F", "1": "M"}, "note": note,
                 "method": "linear probe on the encoder's pooled tokens of the model's own view (template "
                           "space: head size is normalised away by the registration)" +
                           (f", brain only (times the template brain mask eroded by {mask_erode} voxels, so "
                            "that a full head and a skull-stripped scan look alike)" if mask_erode >= 0 else ""),
                 "seen": seen}
    head_card.pop("input_mask", None)
    head_card.pop("mirror_average", None)
    if mask_erode >= 0:
        head_card["input_mask"] = {"kind": "template_brain", "erode_voxels": mask_erode}
        # probe_features averages the view's and its mirror's features: the predictor does the same
        head_card["mirror_average"] = True
    metrics = dict(card.metrics)
    metrics["sex"] = {"protocol": f"5-fold CV by subject, stratified by sex, on {len(y)} real T1 scans "
                                  "(scripts/build_sex_head.py); AUROC pooled out of fold, 95 % bootstrap CI",
                      **{k: {kk: vv for kk, vv in v.items() if kk in ("auroc", "ci95", "fold_mean", "fold_sd")}
                         for k, v in cv.items()},
                      "few_shot": {n: {k: {"mean": v["mean"], "sd": v["sd"]} for k, v in r.items()}
                                   for n, r in results["few_shot"].items()}}
    training = {**card.training_data, "sex": {"data": f"OpenNeuro ds002748 (CC0): {len(y)} real T1w scans, sex "
                                                       "from participants.tsv", "seen": seen}}
    # the sex head is trained now: the recipe's "sex and AD heads are not trained" becomes the AD head's alone
    limitations = [AD_ONLY if line.startswith("The sex and AD heads are not trained") else line
                   for line in card.limitations if not line.startswith("P(male)")] + [
        f"P(male) comes from a linear probe trained on {where}. Its cross-validated AUROC is "
        f"{cv['probe']['auroc']:.2f}, below head size alone ({cv['icv']['auroc']:.2f}), and its "
        "probabilities are calibrated on held-out folds of those scans only: a weak cue for research, "
        f"never a finding; {full_head_text(results.get('full_head'))}"]
    if results.get("full_head"):
        metrics["sex"]["full_head"] = {"protocol": "the shipped probe on T1-like whole-head renderings of individual "
                                                   "label maps and fsaverage, and the same brain-extracted; logit "
                                                   "change in sd of the 72 training scans' logits "
                                                   "(volta_core/train/fullhead_consistency.py)",
                                       **{k: v for k, v in results["full_head"].items() if k != "delta_sd"}}
    probe, slope, offset = calibrated(fit_probe(features, y, c=PROBE_C), results["oof_logit"], y)
    held_out = 1.0 / (1.0 + np.exp(-(slope * np.asarray(results["oof_logit"]) + offset)))
    # the predictor clamps P(male) to what the head gave subjects it had not seen: an average
    # brain (fsaverage, the sample scan) otherwise gets 0.01, a certainty nobody measured
    head_card["probability_range"] = [round(float(held_out.min()), 3), round(float(held_out.max()), 3)]
    metrics["sex"]["calibration"] = {"method": "Platt scaling on the out-of-fold logits", "slope": slope,
                                     "offset": offset, "probability_range": head_card["probability_range"]}
    head = probe_head_state(probe, embed_dim)
    # the card's code_version stays the one that made the segmentation weights; the sex head's is its own
    recipe = {**card.recipe, "sex_head_code_version": code_version(),
              "sex_head_command": "python scripts/build_sex_head.py --t1 DIR --label-maps DIR --install BUNDLE"
                                  + (f" --mask-erode {mask_erode}" if mask_erode != MASK_ERODE else "")}
    return add_head(bundle, out / "bundle", "sex", head, head_card=head_card,
                    card_updates={"metrics": metrics, "training_data": training, "limitations": limitations,
                                  "recipe": recipe})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, default=ROOT / "resources" / "models" / "volta3d-hippocampus")
    parser.add_argument("--t1", type=Path, required=True, help="BIDS folder of T1w scans with participants.tsv (sex)")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "sex_head")
    parser.add_argument("--finetune-steps", type=int, default=150, help="fine-tuning steps per fold (0: skip)")
    parser.add_argument("--install", type=Path, default=None, help="replace the bundle there with the new one")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--compare", action="append", default=[], metavar="NAME=BUNDLE",
                        help="also probe this encoder (e.g. a pretraining run's bundle) on the same folds and "
                             "few-shot draws; repeatable. The shipped head still uses --bundle's encoder")
    parser.add_argument("--mask-erode", type=int, default=MASK_ERODE,
                        help="the head reads the view times the template brain mask eroded by this many voxels "
                             "(-1: the whole view, as before 2026-12-01)")
    parser.add_argument("--label-maps", type=Path, default=None,
                        help="individual whole-head label maps (SynthSeg's): check the head on full-head and "
                             "brain-extracted renderings of them, recorded in the card")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    predictor = Predictor.from_bundle(args.bundle, device="cpu")
    data = prepare_inputs(predictor, args.t1, args.out)
    x, y, icv, subjects = data["x"], data["sex"].astype(int), data["icv"], [str(s) for s in data["subjects"]]
    mask = np.ones(x.shape[1:], dtype=np.float32)
    if args.mask_erode >= 0:
        mask = template_brain_on_model_grid(predictor.spec, predictor.template,
                                            erode_voxels=args.mask_erode).astype(np.float32)
        log(f"the head reads the brain only: {int(mask.sum())} of {mask.size} voxels of the view")
    x = x.astype(np.float32) * mask
    log(f"{len(y)} scans: {int(y.sum())} M / {int((1 - y).sum())} F")

    card, model = _load(args.bundle)
    torch.manual_seed(0)
    random_model = build_model(card).eval()  # same architecture, random weights
    feats = {"probe": probe_features(model, x), "probe_random": probe_features(random_model, x)}
    compared = dict(item.split("=", 1) for item in args.compare)
    for name, path in compared.items():
        feats[f"probe_{name}"] = probe_features(load_bundle_model(path)[1].eval(), x)
        log(f"compared encoder {name}: {path}")
    folds = subject_kfold(subjects, 5, seed=0, labels=list(y))

    oof: dict[str, np.ndarray] = {k: np.zeros(len(y)) for k in ("icv", *feats, "probe+icv")}
    for fold in folds:
        tr, te = np.asarray(fold.train), np.asarray(fold.val)
        oof["icv"][te] = probe_scores(icv[tr, None], y[tr], icv[te, None], c=1.0)
        for name in feats:
            oof[name][te] = probe_scores(feats[name][tr], y[tr], feats[name][te])
        # stacking without leakage: the probe's score on the training subjects comes from an inner CV
        inner = np.zeros(len(tr))
        for inner_fold in subject_kfold([subjects[i] for i in tr], 4, seed=1, labels=list(y[tr])):
            a, b = np.asarray(inner_fold.train), np.asarray(inner_fold.val)
            inner[b] = probe_scores(feats["probe"][tr][a], y[tr][a], feats["probe"][tr][b])
        stack_tr = np.column_stack([inner, icv[tr]])
        stack_te = np.column_stack([oof["probe"][te], icv[te]])
        oof["probe+icv"][te] = probe_scores(stack_tr, y[tr], stack_te, c=1.0)
    if args.finetune_steps > 0:
        oof["finetune"] = finetune_scores(args.bundle, x, y, folds, args.finetune_steps)
    cv = {k: summarise(y, s, folds) for k, s in oof.items()}
    for k, v in cv.items():
        log(f"{k}: AUROC {v['auroc']:.3f} (95 % CI {v['ci95'][0]:.3f}-{v['ci95'][1]:.3f}), "
            f"folds {v['fold_mean']:.3f} +- {v['fold_sd']:.3f}")
    shots = few_shot(feats, y)
    for n, r in shots.items():
        log(f"few-shot {n}: " + ", ".join(f"{k} {v['mean']:.3f} +- {v['sd']:.3f}" for k, v in r.items()))

    rows = read_participants(args.t1)
    ages = [float(rows[s]["age"]) for s in subjects if rows.get(s, {}).get("age", "n/a") not in ("", "n/a")]
    p = np.clip(oof["probe"], 1e-6, 1 - 1e-6)
    results = {"oof_logit": np.log(p / (1 - p)).tolist(), "cv": cv, "few_shot": shots, "n": {"subjects": len(y), "male": int(y.sum()), "female": int((1 - y).sum())},
               "probe_c": PROBE_C, "finetune_steps": args.finetune_steps}
    if args.label_maps is not None:
        results["full_head"] = full_head_check(predictor, model, feats["probe"], y, args.label_maps, mask)
    results["seconds"] = time.time() - started
    (args.out / "sex_head.json").write_text(json.dumps(results, indent=2))
    lines = ["| method (5-fold CV by subject, 72 real T1s) | AUROC (95 % CI) | per fold mean ± sd |", "|---|---|---|"]
    names = {"icv": "head size (ICV) alone, logistic regression", "probe": "**linear probe, bundle encoder (shipped)**",
             "probe_random": "linear probe, random-init encoder", "finetune": f"fine-tuned encoder + head ({args.finetune_steps} steps)",
             "probe+icv": "probe score + ICV", **{f"probe_{k}": f"linear probe, encoder {k}" for k in compared}}
    for k, v in cv.items():
        lines.append(f"| {names[k]} | {v['auroc']:.3f} ({v['ci95'][0]:.2f}–{v['ci95'][1]:.2f}) | {v['fold_mean']:.3f} ± {v['fold_sd']:.3f} |")
    columns = ["probe", *(f"probe_{k}" for k in compared), "probe_random"]
    titles = ["bundle encoder", *(f"encoder {k}" for k in compared), "random encoder"]
    lines += ["", "| labelled subjects | " + " | ".join(titles) + " |", "|---" * (len(titles) + 1) + "|"]
    for n, r in shots.items():
        lines.append(f"| {n} | " + " | ".join(f"{r[c]['mean']:.3f} ± {r[c]['sd']:.3f}" for c in columns) + " |")
    (args.out / "sex_head.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))

    target = write_bundle(args.bundle, args.out, feats["probe"], y, results,
                          (min(ages), max(ages)) if ages else (0, 0), model.encoder.embed_dim, args.mask_erode)
    check = Predictor.from_bundle(target, device="cpu")
    log(f"bundle with the sex head: {target} ({check.kind})")
    if args.install:
        staging = args.install.with_name(args.install.name + ".new")
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(target, staging)  # the old bundle stays whole until the new one is complete
        shutil.rmtree(args.install, ignore_errors=True)
        staging.rename(args.install)
        log(f"installed to {args.install}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
