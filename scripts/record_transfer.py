"""Record the real-scan pretraining experiment in a bundle's model card and print the README tables.

Usage (after ``build_model.py --t1 DIR --label-maps DIR --stages pretrain,fewshot`` and
``build_sex_head.py --compare real=OUT/pretrain/bundle``)::

    .venv/bin/python scripts/record_transfer.py --pretrain runs/build-model/pretrain \\
        --fewshot runs/build-model/fewshot.json --sex runs/sex_head/sex_head.json \\
        --bundle resources/models/volta3d-hippocampus --plot resources/screenshots/pretraining_real_curve.png

It writes ``metrics.real_pretraining`` into the bundle's card: the pretraining run (data,
steps, the loss / teacher-diversity curve), and the two few-shot comparisons, pretrained vs.
random initialisation: segmentation with 1, 2 and 5 labelled individual maps (held-out maps,
Dice) and sex with 8, 16 and 32 labelled real subjects (AUROC). Weights are not touched.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from volta_core.train.metrics import mean_sd  # noqa: E402


def seg_table(fewshot: dict) -> dict:
    sizes = sorted({r["n"] for r in fewshot.values()})
    table = {}
    for n in sizes:
        row = {}
        for init in ("pretrained", "scratch"):
            runs = sorted((r for r in fewshot.values() if r["n"] == n and r["init"] == init), key=lambda r: r["seed"])
            m, sd = mean_sd([r["dice"] for r in runs])
            row[init] = {"mean": m, "sd": sd, "n_seeds": len(runs), "values": [round(r["dice"], 4) for r in runs]}
        pairs = [(a["dice"], b["dice"]) for a in fewshot.values() for b in fewshot.values()
                 if a["n"] == b["n"] == n and a["seed"] == b["seed"] and a["init"] == "pretrained" and b["init"] == "scratch"]
        row["pretrained_wins"] = f"{sum(p > s for p, s in pairs)}/{len(pairs)}"
        table[str(n)] = row
    return table


def read_fewshot(path: Path) -> dict:
    """``fewshot.json``, or the per-run ``*/result.json`` files of a (partly) finished stage."""
    if path.is_dir():  # only runs tested the current way (an older full-pipeline result is re-tested on a rerun)
        runs = {f.parent.name: json.loads(f.read_text(encoding="utf-8")) for f in sorted(path.glob("*/result.json"))}
        return {k: r for k, r in runs.items() if r.get("eval") == "grid"}
    return json.loads(path.read_text(encoding="utf-8"))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pretrain", type=Path, required=True, help="pretraining run folder (with bundle/)")
    p.add_argument("--fewshot", type=Path, default=None,
                   help="build_model.py's fewshot.json, or its fewshot_individual/ folder of per-run results "
                        "(without it the record says the segmentation comparison was not run for this encoder)")
    p.add_argument("--diagnosis", type=Path, default=None, help="diagnose_encoder.py --out JSON, recorded as is")
    p.add_argument("--key", default="real_pretraining", help="the card's metrics entry to write")
    p.add_argument("--title", default="VolTA-3D pretraining on real T1 scans + synthetic brains",
                   help="the plot's title")
    p.add_argument("--sex", type=Path, required=True, help="build_sex_head.py's sex_head.json with --compare")
    p.add_argument("--compare-name", default="real", help="the --compare NAME given to build_sex_head.py")
    p.add_argument("--bundle", type=Path, required=True, help="bundle whose card gets the record")
    p.add_argument("--steps", type=int, default=0, help="fine-tuning steps of each few-shot run (for the card)")
    p.add_argument("--plot", type=Path, default=None, help="also write the curve as a PNG")
    args = p.parse_args(argv)

    pre_card = json.loads((args.pretrain / "bundle" / "model_card.json").read_text(encoding="utf-8"))
    config = json.loads(json.dumps(__import__("yaml").safe_load((args.pretrain / "config.yaml").read_text())))
    sex = json.loads(args.sex.read_text(encoding="utf-8"))
    key = f"probe_{args.compare_name}"
    seg = seg_table(read_fewshot(args.fewshot)) if args.fewshot is not None else {}
    sex_shots = {n: {"pretrained": r[key], "scratch": r["probe_random"], "shipped_encoder": r["probe"]}
                 for n, r in sex["few_shot"].items()}
    curve = pre_card["metrics"].get("training_curve") or {}
    if not curve.get("step"):  # a card written before the curve was recorded: the run's own log has it
        from volta_core.train.pretrain import training_curve

        log = args.pretrain / "metrics.jsonl"
        curve = training_curve(log) if log.is_file() else {}
    if not curve.get("step"):
        raise SystemExit(f"{args.pretrain}: no training curve in its card or its metrics.jsonl; "
                         "the record would not show that the pretraining learned")
    record = {
        "protocol": ("encoder pretrained with the VolTA objective on real unlabelled T1 scans mixed with synthetic "
                     "brains (configs/recipe_pretrain_real.yaml); then, from it and from random weights with equal "
                     "steps: (a) segmentation fine-tuned on synthesis from n labelled individual maps (drawn per "
                     "seed from the training maps), Dice on the held-out maps (T1-like, full pipeline); (b) sex, "
                     "linear probes on n labelled real subjects (balanced), AUROC on the rest. The shipped model's "
                     "encoder is NOT this one: it was pretrained on synthetic brains only."),
        "pretraining": {"source": pre_card["training_data"].get("source"),
                        "real_n_subjects": pre_card["training_data"].get("real_n_subjects"),
                        "real_data_sha256": pre_card["training_data"].get("real_data_sha256"),
                        "steps": config.get("steps"), "batch_size": config.get("batch_size"),
                        "real_fraction": config.get("real_fraction"), "lr": config.get("optim", {}).get("lr"),
                        "ssl": config.get("ssl"),
                        "last_step": {k: v for k, v in pre_card["metrics"].items() if isinstance(v, float)},
                        "training_curve": curve},
        "fewshot_segmentation": ({"steps_per_run": args.steps or None, "metric": "mean Dice L/R, held-out maps",
                                  "by_labelled_maps": seg} if seg else
                                 {"not_run": "the few-shot segmentation comparison was not run for this encoder"}),
        "fewshot_sex": {"metric": "AUROC on the subjects not labelled, 5 seeds", "by_labelled_subjects": sex_shots,
                        "cv_all_72": {"pretrained": sex["cv"][key]["auroc"], "pretrained_ci95": sex["cv"][key]["ci95"],
                                      "scratch": sex["cv"]["probe_random"]["auroc"],
                                      "shipped_encoder": sex["cv"]["probe"]["auroc"], "icv": sex["cv"]["icv"]["auroc"]}},
    }
    card_path = args.bundle / "model_card.json"
    card = json.loads(card_path.read_text(encoding="utf-8"))
    if args.diagnosis is not None:
        record["feature_diagnosis"] = json.loads(args.diagnosis.read_text(encoding="utf-8"))
    card.setdefault("metrics", {})[args.key] = record
    tmp = card_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    tmp.replace(card_path)

    if seg:
        print("| labelled maps | pretrained on real + synthetic | random weights | pretrained better (seeds) |")
        print("|---|---|---|---|")
    for n, row in seg.items():
        a, b = row["pretrained"], row["scratch"]
        print(f"| {n} | {a['mean']:.3f} ± {a['sd']:.3f} | {b['mean']:.3f} ± {b['sd']:.3f} | {row['pretrained_wins']} |")
    print()
    print("| labelled subjects | pretrained on real + synthetic | random weights | shipped encoder |")
    print("|---|---|---|---|")
    for n, row in sex_shots.items():
        print(f"| {n} | " + " | ".join(f"{row[k]['mean']:.3f} ± {row[k]['sd']:.3f}"
                                       for k in ("pretrained", "scratch", "shipped_encoder")) + " |")
    cv = record["fewshot_sex"]["cv_all_72"]
    print(f"\nall 72, 5-fold CV: pretrained {cv['pretrained']:.3f} ({cv['pretrained_ci95'][0]:.2f}-"
          f"{cv['pretrained_ci95'][1]:.2f}), random {cv['scratch']:.3f}, shipped {cv['shipped_encoder']:.3f}, "
          f"ICV {cv['icv']:.3f}")
    if args.plot is not None:
        from scripts.plot_pretraining import plot

        plot(args.pretrain, args.plot, args.title)
        print(f"wrote {args.plot}")
    print(f"recorded metrics.{args.key} in {card_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
