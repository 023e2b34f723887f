"""``volta synth-data OUT --subjects N``: a small synthetic BIDS dataset to try the pipeline."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("synth-data", help="write a toy synthetic BIDS dataset (heads with hippocampus masks)")
    p.add_argument("out", type=Path, help="output folder")
    p.add_argument("--subjects", type=int, default=8, help="number of subjects (default 8)")
    p.add_argument("--shape", type=int, default=64, help="voxels per side (default 64)")
    p.add_argument("--spacing", type=float, default=3.0, help="voxel size in mm (default 3.0)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from volta_core.data.synthetic import write_synthetic_bids

    if args.subjects < 1 or args.shape < 8 or args.spacing <= 0:
        print("volta: error: --subjects >= 1, --shape >= 8 and --spacing > 0 are required")
        return 2
    root = write_synthetic_bids(args.out, args.subjects, shape=args.shape, spacing=args.spacing, seed=args.seed)
    print(f"wrote {args.subjects} synthetic subjects to {root}")
    return 0
