"""Run one structures fine-tuning experiment and score it on the individual label maps.

The recipe's structures chain (``scripts/build_model.py --label-maps DIR``) is a fixed list of
runs; an experiment outside it (a config in ``configs/`` whose header says what it asks, e.g.
``recipe_seg_structures_t1only.yaml``) is run the same way: fine-tuned from ``--init`` with the
config, resumable (run the command again after an interruption), then scored by
``evaluate_individual`` on the held-out maps and, with ``--seen N``, on N maps it trained on.

Usage::

    .venv/bin/python scripts/run_structures_experiment.py configs/recipe_seg_structures_t1only.yaml \\
        --label-maps DATA/synthseg/data/training_label_maps --out runs/t1only \\
        [--init BUNDLE] [--contrasts t1 random] [--seen 4] [--set synth.seed=13 ...]

Writes ``OUT/run`` (the run and its bundle), ``OUT/heldout.json`` and ``OUT/seen.json`` and prints
a summary line per contrast.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scripts.build_model import checked, finetune  # noqa: E402
from volta_core.infer.cli_predict import default_bundle  # noqa: E402
from volta_core.train.heldout_individual import evaluate_individual  # noqa: E402


def summary_lines(result: dict, label: str) -> list[str]:
    return [f"{label} {contrast}: hippocampus Dice {row['dice_left']:.3f} / {row['dice_right']:.3f}, volume "
            f"{100 * row['volume_error_left']:+.0f} % / {100 * row['volume_error_right']:+.0f} %"
            for contrast, row in result["summary"].items()]


def main(argv: list[str] | None = None) -> int:
    from volta_core.data.real_data import check_label_maps

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", type=Path)
    parser.add_argument("--label-maps", type=Path, required=True, metavar="DIR")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR")
    parser.add_argument("--init", type=Path, default=None, metavar="BUNDLE", help="default: the shipped model")
    parser.add_argument("--contrasts", nargs="+", default=["t1", "random"], choices=("t1", "random"))
    parser.add_argument("--seen", type=int, default=0, metavar="N", help="also score N of the training maps")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="more config overrides")
    args = parser.parse_args(argv)
    checked(check_label_maps, args.label_maps)
    init = args.init or default_bundle()
    bundle = finetune(args.out / "run", [f"synth.label_maps={args.label_maps}", *args.set], init, args.config)
    results = {"heldout": evaluate_individual(bundle, args.label_maps, device="cpu", log=print,
                                              contrasts=tuple(args.contrasts))}
    if args.seen:
        results["seen"] = evaluate_individual(bundle, args.label_maps, device="cpu", log=print, subset="individual",
                                              contrasts=tuple(args.contrasts), limit=args.seen)
    for name, result in results.items():
        (args.out / f"{name}.json").write_text(json.dumps(result, indent=1, default=float), encoding="utf-8")
        print("\n".join(summary_lines(result, name)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
