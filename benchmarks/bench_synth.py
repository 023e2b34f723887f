"""Benchmark of the torch synthesis engine (seconds per sample), with a numpy/scipy baseline.

Run: ``python benchmarks/bench_synth.py [--n 5] [--threads 1 2] [--subset all]``. Prints a
markdown table. Sources are loaded first (not timed); each configuration gets one warm-up
sample. The machine is shared, so the 1-minute load average is printed too.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import torch
from scipy import ndimage

from volta_core.data.synth import GridConfig, SourceLibrary, SynthConfig, SynthGenerator
from volta_core.data.synth.deform import AffineParams, output_affine
from volta_core.data.synth.sources import Source

GRIDS = {"whole 128^3 @1.5 mm": GridConfig.whole(128, 1.5), "roi 64^3 @1 mm": GridConfig.roi((64, 64, 64), 1.0)}


def numpy_sample(src: Source, grid: GridConfig, rng: np.random.Generator) -> np.ndarray:
    """The same pipeline with numpy/scipy (affine + elastic warp, GMM, blur, bias, noise)."""
    shape = grid.shape
    out_aff = output_affine(shape, grid.spacing_mm, src.brain_centre)
    params = AffineParams(tuple(rng.uniform(-15, 15, 3)), tuple(1 + rng.uniform(-0.15, 0.15, 3)))
    m = np.eye(4)
    m[:3, :3] = params.matrix()
    m[:3, 3] = src.brain_centre - m[:3, :3] @ src.brain_centre
    total = np.linalg.inv(src.affine) @ m @ out_aff
    idx = np.indices(shape, dtype=np.float32).reshape(3, -1)
    coords = total[:3, :3] @ idx + total[:3, 3:4]
    disp = ndimage.zoom(rng.normal(0, 2.0, (3, 6, 6, 6)), [1] + [n / 6 for n in shape], order=1)
    coords += disp.reshape(3, -1) / src.spacing_mm
    labels = ndimage.map_coordinates(src.labels, coords, order=0).reshape(shape)
    means, stds = rng.uniform(0, 1, 256), rng.uniform(0, 0.08, 256)
    img = means[labels] + stds[labels] * rng.standard_normal(shape)
    img = ndimage.gaussian_filter(img, rng.uniform(0, 1, 3))
    img *= ndimage.zoom(np.exp(rng.normal(0, 0.2, (4, 4, 4))), [n / 4 for n in shape], order=1)
    img += rng.normal(0, 0.02, shape)
    return (img - img.min()) / (img.max() - img.min())


def time_it(fn, n: int) -> tuple[float, float]:
    """Wall and CPU (process) seconds per call; on a shared machine CPU time / threads is the
    better estimate of the wall time on idle cores."""
    fn(0)  # warm-up (tensor upload, allocator)
    t0, c0 = time.perf_counter(), time.process_time()
    for i in range(1, n + 1):
        fn(i)
    return (time.perf_counter() - t0) / n, (time.process_time() - c0) / n


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=5, help="timed samples per configuration")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--subset", default="all")
    p.add_argument("--no-numpy", action="store_true")
    args = p.parse_args()
    library = SourceLibrary(args.subset)
    sources = library.sources()
    print(f"# bench_synth: torch {torch.__version__}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores, sources {library.names}, n={args.n} per row")
    print("| grid | mode | threads | wall s/sample | CPU s/sample | load avg (1 min) |")
    print("|---|---|---|---|---|---|")
    for threads in args.threads:
        torch.set_num_threads(threads)
        for gname, grid in GRIDS.items():
            for mode in ("synth", "template"):
                gen = SynthGenerator(library, SynthConfig(mode=mode, grid=grid))
                wall, cpu = time_it(lambda i: gen.sample(1000 + i), args.n)
                print(f"| {gname} | {mode} | {threads} | {wall:.3f} | {cpu:.3f} | {os.getloadavg()[0]:.1f} |",
                      flush=True)
    if not args.no_numpy:
        rng = np.random.default_rng(0)
        for gname, grid in GRIDS.items():
            wall, cpu = time_it(lambda i: numpy_sample(sources[i % len(sources)], grid, rng), max(2, args.n // 2))
            print(f"| {gname} | numpy/scipy synth baseline | 1 | {wall:.3f} | {cpu:.3f} | {os.getloadavg()[0]:.1f} |",
                  flush=True)


if __name__ == "__main__":
    main()
