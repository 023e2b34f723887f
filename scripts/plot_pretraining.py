"""Plot a pretraining run's losses and teacher diversity/entropy (did it learn, did it collapse).

Usage::

    .venv/bin/python scripts/plot_pretraining.py runs/build-model/pretrain --out curve.png

Reads ``RUN/metrics.jsonl`` (the same binned curve the run's model card holds as
``metrics.training_curve``) and writes a two-panel PNG: the VolTA losses (global, local,
reconstruction) and the teacher's diversity ``H(mean p) - mean H(p)`` with its entropy.
A collapsed teacher has a diversity near 0 (``volta_core/train/collapse.py``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from volta_core.train.pretrain import training_curve  # noqa: E402


def plot(run: Path, out: Path, title: str = "") -> dict:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curve = training_curve(run / "metrics.jsonl", points=60)
    if not curve["step"]:
        raise SystemExit(f"{run / 'metrics.jsonl'} has no pretraining steps with teacher diagnostics")
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6), dpi=110)
    for key, label in (("loss_global", "global (class token)"), ("loss_local", "local (masked patch tokens)")):
        if key in curve:
            a.plot(curve["step"], curve[key], label=label)
    a.set_xlabel("step")
    a.set_ylabel("cross-entropy (nats)")
    if "loss_recon" in curve:
        r = a.twinx()
        r.plot(curve["step"], curve["loss_recon"], color="tab:green", label="reconstruction")
        r.set_ylabel("reconstruction (MSE)", color="tab:green")
    a.legend(loc="lower left", fontsize=8)
    a.set_title("VolTA losses")
    b.plot(curve["step"], curve["teacher_diversity"], color="tab:red", label="diversity H(mean p) - mean H(p)")
    b.axhline(0.05, color="grey", lw=0.8, ls="--")
    b.text(curve["step"][-1], 0.06, "collapse zone", ha="right", fontsize=8, color="grey")
    b.set_xlabel("step")
    b.set_ylabel("diversity (nats)", color="tab:red")
    e = b.twinx()
    e.plot(curve["step"], curve["teacher_entropy"], color="tab:purple", label="teacher entropy")
    e.set_ylabel("teacher entropy (nats)", color="tab:purple")
    if "teacher_feature_dim" in curve:  # the backbone itself (runs from 2026-11-30 on)
        f = b.twinx()
        f.spines["right"].set_position(("axes", 1.15))
        f.plot(curve["step"], curve["teacher_feature_dim"], color="tab:brown", ls=":", label="backbone feature dim")
        f.set_ylabel("backbone feature dimension", color="tab:brown")
    b.set_title("teacher head: diversity over prototypes (collapse monitor)")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return curve


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", type=Path, help="pretraining run folder (with metrics.jsonl)")
    p.add_argument("--out", type=Path, required=True, help="PNG to write")
    p.add_argument("--title", default="")
    args = p.parse_args(argv)
    curve = plot(args.run, args.out, args.title)
    print(f"wrote {args.out} ({len(curve['step'])} points, last diversity {curve['teacher_diversity'][-1]:.3f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
