"""``volta predict`` as a BIDS App on a 20-scan synthetic cohort at 1 mm: throughput, memory, start-up.

Usage: python benchmarks/bench_cohort.py [--data DIR] [--scans 20] [--bundle BUNDLE] [--per-scan 4]

The dataset is the shipped template T1 resampled to 1 mm (193 x 229 x 193 voxels), each scan with
its own contrast, gain and noise, written once into ``--data`` (reused when it is there). Each
configuration writes into a fresh output folder and is timed from launch to exit:

- 1 process, all scans (``participant``);
- 1 process per scan, as when a scheduler starts one job per scan (the first ``--per-scan`` scans);
- 2 processes, ``--shard 1/2`` and ``--shard 2/2`` side by side (what a 2-task SLURM array does);
- 2 ranks under ``torchrun --standalone --nproc_per_node 2``.

Peak RSS is the largest resident set of any one process of the configuration (GNU time's %M,
which includes waited-for children, so a torchrun line covers its ranks). Start-up is the time
from launching ``volta predict ... participant`` to the moment it starts reading its first scan
(median of 3). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_common import cpu_name  # noqa: E402

TIME = shutil.which("time") or "/usr/bin/time"
PROBE = """
import os, sys, time
import volta_core.infer.bids_app.participant as stage
def first(*args, **kwargs):
    print(f"FIRST_READ {time.time():.6f} {time.thread_time():.6f}", file=sys.stderr, flush=True)
    os._exit(0)  # the start-up ends here; the rest is measured by the configurations
stage.load_volume = first
from volta_core.cli import main
sys.exit(main(sys.argv[1:]))
"""


def make_dataset(root: Path, n: int) -> Path:
    """``n`` one-millimetre scans (sub-001 ...), written once."""
    import nibabel as nib
    from scipy import ndimage

    from volta_core.preprocess.template import load_template

    if len(list(root.glob("sub-*/anat/*_T1w.nii.gz"))) >= n:
        return root
    template = load_template()
    base = ndimage.zoom(np.asarray(template.image.data, dtype=np.float32), 1.5, order=1)
    affine = template.image.affine.copy()
    affine[:3, :3] = np.eye(3)
    lines = ["participant_id\tage\tsex"]
    for i in range(1, n + 1):
        rng = np.random.default_rng(i)
        scan = (np.clip(base, 0, None) / max(1.0, float(base.max()))) ** rng.uniform(0.85, 1.15) * rng.uniform(400, 900)
        scan = (scan + rng.normal(0, 5, scan.shape) * (base > 0)).astype(np.float32)
        path = root / f"sub-{i:03d}" / "anat" / f"sub-{i:03d}_T1w.nii.gz"
        path.parent.mkdir(parents=True, exist_ok=True)
        nib.save(nib.Nifti1Image(scan, affine), str(path))
        lines.append(f"sub-{i:03d}\t{60 + i}\t{'MF'[i % 2]}")
    (root / "participants.tsv").write_text("\n".join(lines) + "\n")
    (root / "dataset_description.json").write_text(json.dumps({"Name": "bench cohort", "BIDSVersion": "1.9.0"}))
    return root


def timed(commands: list[list[str]], env: dict[str, str], work: Path) -> tuple[float, int]:
    """Run the commands side by side; wall seconds for all and the largest peak RSS (MB) of one."""
    started = time.perf_counter()
    procs = []
    for i, command in enumerate(commands):
        rss_file = work / f"rss{i}.txt"
        procs.append((subprocess.Popen([TIME, "-f", "%M", "-o", str(rss_file), *command], env=env,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True), rss_file))
    for proc, _ in procs:
        _, err = proc.communicate()
        if proc.returncode != 0:
            raise SystemExit(f"failed ({proc.returncode}): {' '.join(proc.args)}\n{err[-2000:]}")
    seconds = time.perf_counter() - started
    peak_kb = max(int(rss.read_text().split()[-1]) for _, rss in procs)
    return seconds, peak_kb // 1024


def startup_seconds(data: Path, bundle: Path, work: Path, env: dict[str, str]) -> list[tuple[float, float]]:
    """Launch-to-first-read times of the participant stage (fresh output folder each time): wall
    seconds, and CPU seconds of the main thread (what the wall time would be on an idle core)."""
    times = []
    for i in range(3):
        out = work / f"startup{i}"
        launched = time.time()
        proc = subprocess.run([sys.executable, "-c", PROBE, "predict", str(data), str(out), "participant",
                               "--participant-label", "001", "--model", str(bundle), "--quiet"],
                              env=env, capture_output=True, text=True)
        stamp = next((line.split()[1:] for line in proc.stderr.splitlines() if line.startswith("FIRST_READ")), None)
        if stamp is None:
            raise SystemExit(f"no first read seen:\n{proc.stderr[-2000:]}")
        times.append((float(stamp[0]) - launched, float(stamp[1])))
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "volta-bench-cohort")
    parser.add_argument("--scans", type=int, default=20)
    parser.add_argument("--per-scan", type=int, default=4, help="scans for the one-process-per-scan line")
    parser.add_argument("--bundle", type=Path, default=None)
    args = parser.parse_args()
    from volta_core.infer.cli_predict import default_bundle

    bundle = args.bundle or default_bundle()
    data = make_dataset(args.data, args.scans)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for name in ("SLURM_ARRAY_TASK_ID", "RANK", "WORLD_SIZE", "LOCAL_RANK"):
        env.pop(name, None)
    volta = [sys.executable, "-m", "volta_core.cli", "predict", str(data)]
    # the first --scans participants, also when the folder holds more (a dataset made for a larger run)
    common = ["--model", str(bundle), "--quiet", "--participant-label", *(f"{i:03d}" for i in range(1, args.scans + 1))]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        starts = startup_seconds(data, bundle, work, env)
        print(f"  start-up: {starts}", file=sys.stderr, flush=True)
        configs = [
            ("1 process, all scans", args.scans, [[*volta, str(work / "single"), "participant", *common]]),
            (f"1 process per scan ({args.per_scan} scans, one after another)", args.per_scan, None),
            ("2 processes, --shard 1/2 and 2/2", args.scans,
             [[*volta, str(work / "shards"), "participant", "--shard", f"{k}/2", *common] for k in (1, 2)]),
            ("2 ranks, torchrun --nproc_per_node 2", args.scans,
             [[sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "volta_core.cli", "predict", str(data), str(work / "torchrun"), "participant", *common]]),
        ]
        for name, n, commands in configs:
            if commands is None:
                total, peak = 0.0, 0
                for i in range(1, n + 1):
                    seconds, rss = timed([[*volta, str(work / "per-scan"), "participant", *common[:3],
                                           "--participant-label", f"{i:03d}"]], env, work)
                    total, peak = total + seconds, max(peak, rss)
                seconds = total
            else:
                seconds, peak = timed(commands, env, work)
            rows.append((name, n, seconds, peak))
            print(f"  {name}: {n} scans in {seconds:.1f} s, peak RSS {peak} MB", file=sys.stderr, flush=True)
    print(f"machine: {cpu_name()}, {os.cpu_count()} cores; model {bundle.name}; {args.scans} scans of "
          "193 x 229 x 193 at 1 mm")
    print(f"start-up (launch to first scan read), median of 3: {statistics.median(t[0] for t in starts):.2f} s wall, "
          f"{statistics.median(t[1] for t in starts):.2f} s CPU of the main thread "
          f"(wall: {', '.join(f'{t[0]:.2f}' for t in starts)})\n")
    print("| configuration | scans | wall time (s) | s per scan | scans per hour | peak RSS per process (MB) |")
    print("|---|---|---|---|---|---|")
    for name, n, seconds, peak in rows:
        print(f"| {name} | {n} | {seconds:.1f} | {seconds / n:.2f} | {3600 * n / seconds:.0f} | {peak} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
