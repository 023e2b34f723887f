"""Per-stage time and peak memory of preprocessing a 256^3 1 mm head scan, and of the inverse.

Scan: ``resources/sample/fsaverage_T1.mgz`` (256^3, 1 mm, LIA, with skull and neck) if present,
else the shipped template warped onto a 256^3 1 mm LIA grid with a synthetic skull.

Usage::

    .venv/bin/python benchmarks/bench_preprocess.py [--repeats 3] [--spec 128x1.5]

Stages (median of ``--repeats`` runs after one warm-up):

- reorient: exact RAS reorientation of the 256^3 array (a standalone step; the pipeline folds
  it into its single resampling),
- register: affine registration to the template (SimpleITK, 2 threads),
- register (no T1 contrast): the same for a head whose every structure has its own random
  intensity (fsaverage's aseg with skull and scalp shells, ``tests/core/preprocess/synthetic.py``),
  which mutual information fits poorly, so the correlation-ratio refit runs too,
- resample+crop+normalise: the one trilinear resampling onto the model grid and percentile
  normalisation in the template brain mask (``preprocess`` given the registration),
- inverse labels: a hippocampus-sized label map back to 256^3,
- inverse probs: 3-class probabilities back to (3, 256, 256, 256).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import time
from pathlib import Path
from statistics import median

import nibabel as nib
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from volta_core.io.volume import Volume  # noqa: E402
from volta_core.preprocess import (  # noqa: E402
    ModelInputSpec,
    load_template,
    preprocess,
    register_to_template,
    reorient_to_ras,
)

SAMPLE = ROOT / "resources" / "sample" / "fsaverage_T1.mgz"


def load_scan() -> tuple[Volume, str]:
    """The benchmark scan and a description of it."""
    if SAMPLE.is_file():
        image = nib.load(str(SAMPLE))
        return Volume(np.asanyarray(image.dataobj), image.affine), "fsaverage_T1.mgz (real, with skull)"
    sys.path.insert(0, str(ROOT / "tests" / "core" / "preprocess"))
    from synthetic import grid_affine, scan_from_template, similarity_matrix  # type: ignore[import-not-found]

    template = load_template()
    shape = (256, 256, 256)
    truth = similarity_matrix((8.0, 0.0, 4.0), (3.0, -6.0, 10.0), 1.0, (0.0, -17.5, 5.0))
    return scan_from_template(template, truth, grid_affine("LIA", shape, (1.0,) * 3), shape, skull=True), (
        "template warped to 256^3 LIA with synthetic skull"
    )


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--spec", default="128x1.5", help="model grid as SIZExSPACING, e.g. 96x2")
    args = parser.parse_args()
    size_text, spacing_text = args.spec.split("x")
    spec = ModelInputSpec(spacing=(float(spacing_text),) * 3, size=(int(size_text),) * 3)

    scan, description = load_scan()
    template = load_template()
    from tests.core.preprocess.synthetic import fsaverage_whole_head_labels, per_structure_contrast

    scrambled = per_structure_contrast(*fsaverage_whole_head_labels(), seed=5)
    scrambled_fit = None
    rss_loaded = peak_rss_mb()
    wall: dict[str, list[float]] = {}
    cpu: dict[str, list[float]] = {}

    def timed(name: str, fn):  # type: ignore[no-untyped-def]
        started, started_cpu = time.perf_counter(), time.process_time()
        out = fn()
        wall.setdefault(name, []).append(time.perf_counter() - started)
        cpu.setdefault(name, []).append(time.process_time() - started_cpu)
        return out

    quality = 0.0
    for run in range(args.repeats + 1):
        timed("reorient (exact, standalone)", lambda: reorient_to_ras(scan))
        registration = timed("register", lambda: register_to_template(scan, template))
        quality = registration.quality
        scrambled_fit = timed("register (no T1 contrast)", lambda: register_to_template(scrambled, template))
        result = timed(
            "resample+crop+normalise", lambda: preprocess(scan, spec, template=template, registration=registration)
        )
        labels = np.zeros(spec.size, dtype=np.uint8)
        c = np.asarray(spec.size) // 2
        labels[c[0] - 20 : c[0] - 7, c[1] - 20 : c[1] + 7, c[2] - 15 : c[2] - 2] = 17  # ~40x20x20 mm
        timed("inverse labels (hippocampus)", lambda: result.record.invert_labels(labels))
        probabilities = np.random.default_rng(0).random((3, *spec.size), dtype=np.float32)
        timed("inverse probabilities (3 ch)", lambda: result.record.invert_probabilities(probabilities))
        if run == 0:  # warm-up (template cache, SimpleITK thread pool)
            wall.clear()
            cpu.clear()
    wall["preprocess total"] = [a + b for a, b in zip(wall["register"], wall["resample+crop+normalise"])]
    cpu["preprocess total"] = [a + b for a, b in zip(cpu["register"], cpu["resample+crop+normalise"])]
    print(f"scan: {description}, shape {scan.shape}, spacing {scan.spacing}, {''.join(scan.orientation)}")
    print(f"model grid: {spec.size} at {spec.spacing} mm; registration quality {quality:.3f}")
    if scrambled_fit is not None:
        print(f"no-T1-contrast head: quality {scrambled_fit.quality:.3f}, kept fit: {scrambled_fit.fitted_by}")
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}, "
        f"load average {os.getloadavg()[0]:.1f} (shared machine: CPU s is the steadier figure)"
    )
    print()
    print(f"| {'stage':<30} | {'wall s (median)':>15} | {'wall s (min)':>12} | {'CPU s (median)':>14} |")
    print(f"|{'-' * 32}|{'-' * 17}|{'-' * 14}|{'-' * 16}|")
    for name in wall:
        print(f"| {name:<30} | {median(wall[name]):>15.3f} | {min(wall[name]):>12.3f} | {median(cpu[name]):>14.3f} |")
    print()
    print(f"peak RSS: {peak_rss_mb():.0f} MB (after loading scan + template: {rss_loaded:.0f} MB)")


if __name__ == "__main__":
    main()
