"""Benchmark the VolTA-3D encoder presets (and the segmenter / SSL step) on CPU.

Prints one table row per model: parameters, forward ms per volume at 96^3 and 128^3
(batch 1, inference mode), forward+backward ms for a batch of 2 at 96^3, the peak
RSS of a fresh process that ran only that row (each row runs in its own subprocess)
and the 1-minute load average when the row finished (a shared machine inflates times).
``seg:`` / ``seg8:`` rows are the UNETR segmenter (feature size 16 / 8); ``ssl:`` rows one VoltaSSL
forward+backward (batch 2 -> 4 views of 96^3, half the tokens masked; no fwd-only column).

Usage::

    python benchmarks/bench_model.py                    # all rows, 2 threads
    python benchmarks/bench_model.py --rows vit3d_tiny seg:vit3d_tiny --repeats 5
    python benchmarks/bench_model.py --threads 1 --clock cpu   # load-robust compute cost
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

DEFAULT_ROWS = [
    "vit3d_tiny", "vit3d_small", "vit3d_base", "vit3d_large",
    "seg:vit3d_tiny", "seg8:vit3d_tiny", "ssl:vit3d_tiny",
]


CLOCK: Callable[[], float] = time.perf_counter


def timed(fn: Callable[[], object], repeats: int) -> float:
    """Median time in ms (wall, or process CPU with ``--clock cpu``) over ``repeats`` calls after a warm-up."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = CLOCK()
        fn()
        times.append((CLOCK() - t0) * 1000)
    return statistics.median(times)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def bench_encoder(name: str, repeats: int) -> dict[str, float]:
    import torch

    from volta_core.model import build_encoder

    model = build_encoder(name)
    row: dict[str, float] = {"params_M": sum(p.numel() for p in model.parameters()) / 1e6}
    model.eval()
    for size in (96, 128):
        x = torch.randn(1, 1, size, size, size)
        with torch.inference_mode():
            row[f"fwd{size}_ms"] = timed(lambda: model(x, return_layers=()), repeats)
    model.train()
    x2 = torch.randn(2, 1, 96, 96, 96)

    def step() -> None:
        out = model(x2, return_layers=())
        (out.cls_token.sum() + out.patch_tokens.mean()).backward()

    row["fwdbwd96_b2_ms"] = timed(step, max(1, repeats // 2))
    return row


def bench_segmenter(name: str, repeats: int, feature_size: int = 16) -> dict[str, float]:
    import torch

    from volta_core.model import build_segmenter

    model = build_segmenter(name, num_classes=3, feature_size=feature_size)
    row: dict[str, float] = {"params_M": sum(p.numel() for p in model.parameters()) / 1e6}
    model.eval()
    for size in (96, 128):
        x = torch.randn(1, 1, size, size, size)
        with torch.inference_mode():
            row[f"fwd{size}_ms"] = timed(lambda: model(x), repeats)
    model.train()
    x2 = torch.randn(2, 1, 96, 96, 96)
    row["fwdbwd96_b2_ms"] = timed(lambda: model(x2)["logits"].mean().backward(), max(1, repeats // 2))
    return row


def bench_ssl(name: str, repeats: int) -> dict[str, float]:
    """One VoltaSSL step (batch 2 -> 4 views of 96^3, half the tokens masked)."""
    import torch

    from volta_core.model import VoltaSSL, token_mask_to_voxel_mask

    model = VoltaSSL(name)
    row: dict[str, float] = {
        "params_M": sum(p.numel() for p in model.student.parameters()) / 1e6,
        "fwd96_ms": float("nan"),
        "fwd128_ms": float("nan"),
    }
    views = torch.randn(4, 1, 96, 96, 96)
    masks = torch.rand(4, 216) < 0.5
    vox = token_mask_to_voxel_mask(masks, (6, 6, 6), 16)
    batch = dict(global_views=views, masked_views=torch.where(vox, torch.randn_like(views), views), token_masks=masks)
    row["fwdbwd96_b2_ms"] = timed(lambda: model(batch, 0.04)["loss"].backward(), max(1, repeats // 2))
    return row


def run_row(row: str, repeats: int, threads: int) -> dict[str, float]:
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    kind, _, name = row.rpartition(":")
    bench = {
        "": bench_encoder,
        "seg": bench_segmenter,
        "seg8": lambda n, r: bench_segmenter(n, r, feature_size=8),
        "ssl": bench_ssl,
    }[kind]
    result = bench(name, repeats)
    result["peak_rss_MB"] = peak_rss_mb()
    result["load1"] = os.getloadavg()[0]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", nargs="+", default=DEFAULT_ROWS)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="cpu = process CPU time: robust on a shared machine (use with --threads 1)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.clock == "cpu":
        global CLOCK
        CLOCK = time.process_time
    if args.child:
        print(json.dumps(run_row(args.child, args.repeats, args.threads)))
        return

    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs, "
          f"torch threads={args.threads}, {args.clock} clock, median of {args.repeats} "
          f"(fwd+bwd: {max(1, args.repeats // 2)})")
    header = (f"| {'model':<16} | {'params (M)':>10} | {'fwd 96³ ms':>10} | {'fwd 128³ ms':>11} | "
              f"{'fwd+bwd 96³ b2 ms':>18} | {'peak RSS MB':>11} | {'load avg':>8} |")
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    for row in args.rows:
        cmd = [sys.executable, __file__, "--child", row, "--repeats", str(args.repeats),
               "--threads", str(args.threads), "--clock", args.clock]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if proc.returncode:
            print(f"| {row:<16} | failed: {proc.stderr.strip().splitlines()[-1] if proc.stderr else proc.returncode}")
            continue
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"| {row:<16} | {r['params_M']:>10.2f} | {r['fwd96_ms']:>10.0f} | {r['fwd128_ms']:>11.0f} | "
              f"{r['fwdbwd96_b2_ms']:>18.0f} | {r['peak_rss_MB']:>11.0f} | {r['load1']:>8.1f} |", flush=True)


if __name__ == "__main__":
    main()
