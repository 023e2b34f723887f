"""Hippocampus-only masks for the shipped 7-class model: marginal loss against cutting the model down.

A lab whose masks come from another tool (FreeSurfer's aseg, a manual tracing) labels the hippocampus
only (0/1/2). Fine-tuning the shipped model (hippocampus, amygdala, inferior lateral ventricle) on
them either cuts its output layer to 3 classes (what the engine did until 2026-12-01) or keeps the 7
and trains with the marginal loss (``finetune.seg_loss(..., annotated)``, now the default). This
script measures both on the lab loop's own scenario: the shipped model's mask of a scan, each
hippocampus grown by one voxel (the correction), stored twice (the scan, and the scan shifted by 4
voxels) as a 2-case lab set with hippocampus-only masks; one case trains, one is held out.

It prints, per variant: the held-out hippocampus Dice of the starting model and of the fine-tuned
one (model grid, the run's own validation), and the amygdala and ventricle volumes the fine-tuned
model gives on the scan against the shipped model's::

    .venv/bin/python scripts/eval_partial_labels.py [--scan FILE] [--steps 20] [--out runs/partial]
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

BUNDLED = ROOT / "resources" / "models" / "volta3d-hippocampus"


def grown(labels: np.ndarray) -> np.ndarray:
    """Each hippocampus one voxel larger; every other label dropped (a hippocampus-only mask)."""
    from scipy import ndimage

    out = np.where(np.isin(labels, (1, 2)), labels, 0).astype(np.uint8)
    for label in (1, 2):
        ring = ndimage.binary_dilation(labels == label, iterations=1) & (out == 0)
        out[ring] = label
    return out


def lab_set(root: Path, volume: Any, mask: np.ndarray) -> Path:
    from app.state.lab_dataset import add_case

    if not root.is_dir():
        for shift in (0, 4):
            add_case(root, np.roll(volume.data, shift, axis=1), volume.affine, np.roll(mask, shift, axis=1),
                     model_name="volta3d-hippocampus", model_bundle=BUNDLED, edited=True)
    return root


def finetune(data: Path, run: Path, steps: int, cut: bool) -> Path:
    from volta_core.config import FinetuneConfig, adopt_init_settings, from_dict, load_config, to_dict
    from volta_core.train import finetune as ft

    cfg = load_config(FinetuneConfig, ROOT / "configs" / "finetune_seg_tiny.yaml",
                      [f"steps={steps}", "device=cpu", "threads=1", "batch_size=1", "augment=false", "seed=0"])
    cfg = from_dict(FinetuneConfig, adopt_init_settings(to_dict(cfg), BUNDLED, []))
    cfg.task, cfg.data_path, cfg.init = "seg", str(data), str(BUNDLED)
    if (run / "bundle" / "model_card.json").is_file():
        return run / "bundle"
    keep = ft.seg_structures
    if cut:  # the engine before 2026-12-01: the model segments what the masks hold
        ft.seg_structures = lambda found, start: (list(found), None)
    try:
        result = ft.run_finetune(cfg, run, stream=None)
    finally:
        ft.seg_structures = keep
    if result.status != "finished":
        raise SystemExit(f"{run.name}: {result.status}")
    return run / "bundle"


def volumes(bundle: Path, volume: Any) -> dict[str, float]:
    from volta_core.infer.predictor import Predictor

    p = Predictor.from_bundle(bundle, device="cpu").predict(volume)
    return {k: float(v) for k, v in p.volumes_ml.items()}


def main(argv: list[str] | None = None) -> int:
    from volta_core.io import load_volume, sample_scan_path
    from volta_core.infer.predictor import Predictor

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scan", type=Path, default=None, help="the scan (default: the bundled sample)")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "partial")
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    volume = load_volume(args.scan or sample_scan_path())
    shipped = Predictor.from_bundle(BUNDLED, device="cpu").predict(volume)
    target = grown(shipped.labels)
    data = lab_set(args.out / "lab", volume, target)
    voxel_ml = abs(float(np.linalg.det(volume.affine[:3, :3]))) / 1000.0
    rows: dict[str, Any] = {"shipped": {"volumes_ml": {k: float(v) for k, v in shipped.volumes_ml.items()}},
                            "target_ml": {"left": float((target == 1).sum() * voxel_ml),
                                          "right": float((target == 2).sum() * voxel_ml)}}
    # the shipped model's other structures outside the grown hippocampi: what keeping them can keep
    for k, name in enumerate(("amygdala_left", "amygdala_right", "inferior_lateral_ventricle_left",
                              "inferior_lateral_ventricle_right")):
        rows["target_ml"][name] = float(((shipped.labels == 3 + k) & (target == 0)).sum() * voxel_ml)
    for name, cut in (("cut to 3 classes (before)", True), ("marginal loss, 7 classes (now)", False)):
        bundle = finetune(data, args.out / ("cut" if cut else "marginal"), args.steps, cut)
        card = json.loads((bundle / "model_card.json").read_text(encoding="utf-8"))
        start = card["metrics"].get("starting_model", {})
        rows[name] = {"classes": card["architecture"].get("decoder", {}).get("num_classes"),
                      "start_dice": start.get("dice"), "dice": card["metrics"].get("dice"),
                      "volumes_ml": volumes(bundle, volume)}
    (args.out / "partial_labels.json").write_text(json.dumps(rows, indent=1), encoding="utf-8")
    ref = rows["shipped"]["volumes_ml"]
    keys = ["left", "right", *(k for k in ref if "amygdala" in k or "ventricle" in k)]
    print(f"{args.steps}-step fine-tunes from the shipped model on 1 + 1 hippocampus-only cases "
          f"(held-out Dice on the model grid; volumes on the scan, mL)\n")
    print("| variant | classes | held-out Dice, start | after | " + " | ".join(keys) + " |")
    print("|---|---|---|---|" + "---|" * len(keys))
    print("| shipped model | 7 | | | " + " | ".join(f"{ref[k]:.2f}" for k in keys) + " |")
    target_ml = rows["target_ml"]
    print("| the corrected masks (hippocampus); the shipped model's other structures outside them | | | | "
          + " | ".join(f"{target_ml[k]:.2f}" for k in keys) + " |")
    for name, r in rows.items():
        if name in ("shipped", "target_ml"):
            continue
        v = r["volumes_ml"]
        print(f"| {name} | {r['classes']} | {r['start_dice']:.3f} | {r['dice']:.3f} | "
              + " | ".join(f"{v[k]:.2f}" if k in v else "-" for k in keys) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
