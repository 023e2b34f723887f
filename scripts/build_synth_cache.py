"""Pre-generate a cache of synthetic training samples (for when on-the-fly synthesis is too slow).

Usage::

    python scripts/build_synth_cache.py --out cache/dk_whole --n 2000 --subset dk
    python scripts/build_synth_cache.py --out cache/fs_roi --n 500 --subset fsaverage --grid roi --format nifti

Writes ``sample_XXXXX.npz`` (image float16 (1, D, H, W), label uint8 (D, H, W), affine (4, 4)
[, full_label int16]) or ``sample_XXXXX_image.nii.gz`` / ``sample_XXXXX_label.nii.gz`` and a
``manifest.json`` (config, subset, sources, seed, per-sample meta). Read ``.npz`` caches with
``volta_core.data.synth.SynthCacheDataset``. Sample ``i`` uses seed ``SeedSequence([seed, i])``,
so caches are reproducible and can be extended or built in parallel shards (``--start``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import torch

from volta_core.data.synth import (GridConfig, MissingSourceError, ReservedSourceError, SourceLibrary,
                                   SynthConfig, SynthGenerator)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, type=Path, help="cache folder")
    p.add_argument("--n", required=True, type=int, help="number of samples")
    p.add_argument("--subset", required=True, help="source subset: dk | fsaverage | all")
    p.add_argument("--mode", default="mixed", choices=["synth", "template", "mixed"])
    p.add_argument("--grid", default="whole", choices=["whole", "roi"])
    p.add_argument("--size", type=int, nargs="+", default=None,
                   help="output shape (one value = cube; default 128 whole, 96 64 64 roi)")
    p.add_argument("--spacing", type=float, default=None, help="output spacing mm (default 1.5 whole, 1 roi)")
    p.add_argument("--source-spacing", type=float, default=1.0, help="working spacing of the sources (mm)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--start", type=int, default=0, help="index of the first sample (shards)")
    p.add_argument("--format", default="npz", choices=["npz", "nifti"])
    p.add_argument("--full-label", action="store_true", help="also store FreeSurfer-id label maps")
    p.add_argument("--threads", type=int, default=None, help="torch threads")
    p.add_argument("--device", default="cpu")
    return p.parse_args(argv)


def grid_from_args(args: argparse.Namespace) -> GridConfig:
    if args.grid == "whole":
        grid = GridConfig.whole(128, 1.5)
    else:
        grid = GridConfig.roi()
    if args.size:
        grid.shape = tuple(args.size * 3 if len(args.size) == 1 else args.size)  # type: ignore[assignment]
        if len(grid.shape) != 3:
            raise ValueError("--size takes 1 or 3 integers")
    if args.spacing:
        grid.spacing_mm = args.spacing
    return grid


def sample_seed(seed: int, index: int) -> int:
    """Seed of cache sample ``index`` (independent of sharding)."""
    return int(np.random.default_rng(np.random.SeedSequence([seed, index])).integers(0, 2**62))


def build(args: argparse.Namespace) -> Path:
    if args.threads:
        torch.set_num_threads(args.threads)
    config = SynthConfig(mode=args.mode, grid=grid_from_args(args), return_full_label=args.full_label)
    library = SourceLibrary(args.subset, args.source_spacing)
    generator = SynthGenerator(library, config, args.device)
    args.out.mkdir(parents=True, exist_ok=True)
    manifest_path = args.out / "manifest.json"
    entries: dict[str, dict] = {}
    if manifest_path.is_file():  # extending / sharding: keep what is there
        old = json.loads(manifest_path.read_text(encoding="utf-8"))
        same_config = old.get("config") == json.loads(json.dumps(config.to_dict()))
        if not same_config or old.get("subset") != args.subset or old.get("seed") != args.seed:
            raise ValueError(f"{manifest_path} was built with another config/subset/seed; use a new --out")
        entries = {e["file"]: e for e in old["samples"]}
    t0 = time.perf_counter()
    for index in range(args.start, args.start + args.n):
        seed = sample_seed(args.seed, index)
        sample = generator.sample(seed)
        meta = {k: v for k, v in sample["meta"].items() if k != "affine"}
        affine = sample["meta"]["affine"].numpy()
        image = sample["image"].cpu().numpy()
        label = sample["label"].cpu().numpy().astype(np.uint8)
        if args.format == "npz":
            name = f"sample_{index:05d}.npz"
            arrays = {"image": image.astype(np.float16), "label": label, "affine": affine}
            if args.full_label:
                arrays["full_label"] = sample["full_label"].cpu().numpy().astype(np.int16)
            np.savez_compressed(args.out / name, **arrays)
        else:
            name = f"sample_{index:05d}_image.nii.gz"
            nib.save(nib.Nifti1Image(image[0].astype(np.float32), affine), str(args.out / name))
            nib.save(nib.Nifti1Image(label, affine), str(args.out / f"sample_{index:05d}_label.nii.gz"))
            if args.full_label:
                nib.save(nib.Nifti1Image(sample["full_label"].cpu().numpy().astype(np.int16), affine),
                         str(args.out / f"sample_{index:05d}_full_label.nii.gz"))
        entries[name] = {"file": name, "index": index, **meta}
        done = index - args.start + 1
        print(f"[{done}/{args.n}] {name} {meta['source']} {meta['mode']} "
              f"{(time.perf_counter() - t0) / done:.2f} s/sample", flush=True)
    manifest = {"description": "VolTA-3D synthetic training samples (labels: 0 bg, 1 left, 2 right hippocampus)",
                "subset": args.subset, "sources": library.names, "seed": args.seed,
                "config": config.to_dict(), "format": args.format,
                "samples": sorted(entries.values(), key=lambda e: e["index"])}
    manifest_path.write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return args.out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        build(args)
    except (MissingSourceError, ReservedSourceError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
