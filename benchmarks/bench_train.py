"""Training throughput benchmark: volumes/s, peak RSS and data-wait fraction per encoder and task.

Each measurement runs the real loop (``run_pretraining`` / ``run_finetune``) in its own
subprocess on synthetic data at the default input (96^3 at 1.5 mm), so peak RSS is per job.
The first ``--warmup`` steps are excluded from the averages.

Usage::

    python benchmarks/bench_train.py [--encoders vit3d_tiny vit3d_small] [--steps 6] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

JOBS = ("pretrain", "finetune-seg", "finetune-sex")


def run_one(job: str, encoder: str, steps: int, threads: int, workdir: Path) -> dict:
    """Run one job in this process and return its measurements."""
    import numpy as np

    from volta_core.config import FinetuneConfig, PretrainConfig, load_config
    from volta_core.data.synthetic import write_synthetic_bids
    from volta_core.train.events import read_events
    from volta_core.train.finetune import run_finetune
    from volta_core.train.pretrain import run_pretraining

    common = ["device=cpu", f"threads={threads}", f"model.encoder={encoder}", "checkpoint_every=100000"]
    t0 = time.perf_counter()
    if job == "pretrain":
        cfg = load_config(PretrainConfig, None, [*common, f"steps={steps}", "synthetic_subjects=4"])
        run_pretraining(cfg, workdir / "run", stream=None)
    else:
        data = write_synthetic_bids(workdir / "data", 4, shape=64, spacing=3.0)
        task = job.split("-")[1]
        cfg = load_config(FinetuneConfig, None, [*common, f"task={task}", "val_fraction=0", "min_per_class=1",
                                                 f"epochs={steps // 2}"])
        cfg.data_path = str(data)
        run_finetune(cfg, workdir / "run", stream=None)
    wall = time.perf_counter() - t0
    steps_ev = [e for e in read_events(workdir / "run" / "metrics.jsonl") if e["event"] == "step"]
    measured = steps_ev[min(len(steps_ev) - 1, ARGS_WARMUP):]
    step_s = float(np.mean([e["step_s"] for e in measured]))
    return {
        "job": job, "encoder": encoder, "batch": cfg.batch_size, "steps": len(steps_ev),
        "step_s": step_s, "volumes_per_s": cfg.batch_size / step_s,
        "data_wait_frac": float(np.mean([e["data_wait_frac"] for e in measured])),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, "wall_s": wall,
    }


ARGS_WARMUP = 2


def main() -> int:
    global ARGS_WARMUP
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--encoders", nargs="+", default=["vit3d_tiny", "vit3d_small"])
    parser.add_argument("--jobs", nargs="+", default=list(JOBS), choices=JOBS)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--one", nargs=2, metavar=("JOB", "ENCODER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    ARGS_WARMUP = args.warmup
    if args.one:
        with tempfile.TemporaryDirectory() as tmp:
            print(json.dumps(run_one(args.one[0], args.one[1], args.steps, args.threads, Path(tmp))))
        return 0
    rows = []
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    for encoder in args.encoders:
        for job in args.jobs:
            proc = subprocess.run([sys.executable, __file__, "--one", job, encoder, "--steps", str(args.steps),
                                   "--warmup", str(args.warmup), "--threads", str(args.threads)],
                                  capture_output=True, text=True, env=env)
            if proc.returncode != 0:
                print(f"{job} {encoder} failed:\n{proc.stderr[-2000:]}", file=sys.stderr)
                continue
            rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
            print(f"done: {job} {encoder}", file=sys.stderr)
    print(f"\nCPU: {os.cpu_count()} cores, torch threads {args.threads}, input 96^3 at 1.5 mm, synthetic data; "
          f"{args.warmup} warm-up steps excluded\n")
    print("| encoder | job | batch | s/step | volumes/s | data wait | peak RSS (MB) |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['encoder']} | {r['job']} | {r['batch']} | {r['step_s']:.2f} | {r['volumes_per_s']:.2f} | "
              f"{100 * r['data_wait_frac']:.1f} % | {r['peak_rss_mb']:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
