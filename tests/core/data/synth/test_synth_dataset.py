from __future__ import annotations

import json

import pytest
import torch
from torch.utils.data import DataLoader

from volta_core.data.synth import GridConfig, SourceLibrary, SynthBrainDataset, SynthCacheDataset, SynthConfig

TINY = SynthConfig(mode="mixed", grid=GridConfig.whole(32, 6.0))


def test_dataloader_two_spawn_workers_yield_distinct_samples() -> None:
    ds = SynthBrainDataset(SourceLibrary("all", spacing_mm=3.0), TINY, seed=123, num_samples=6)
    loader = DataLoader(ds, batch_size=1, num_workers=2, multiprocessing_context="spawn")
    batches = list(loader)
    assert len(batches) == 6
    seeds = [int(b["meta"]["seed"]) for b in batches]
    assert len(set(seeds)) == 6
    images = [b["image"] for b in batches]
    assert images[0].shape == (1, 1, 32, 32, 32)
    assert all(not torch.equal(images[i], images[j]) for i in range(6) for j in range(i + 1, 6))
    # workers use disjoint seed streams that the main process can reproduce
    expected = set(list(ds.sample_seeds(0, 2)) + list(ds.sample_seeds(1, 2)))
    assert set(seeds) == expected


def test_seed_streams(synth_lib_dk) -> None:
    ds = SynthBrainDataset(synth_lib_dk, TINY, seed=5, num_samples=4)
    assert list(ds.sample_seeds(0, 2)) == list(ds.sample_seeds(0, 2))
    assert len(list(ds.sample_seeds(0, 2))) == 2 and len(ds) == 4
    assert set(ds.sample_seeds(0, 2)).isdisjoint(ds.sample_seeds(1, 2))
    first = list(ds.sample_seeds(0, 1))
    ds.set_epoch(1)
    assert list(ds.sample_seeds(0, 1)) != first
    free = SynthBrainDataset(synth_lib_dk, TINY, seed=None, num_samples=2)
    torch.manual_seed(1)
    a = list(free.sample_seeds())
    torch.manual_seed(2)
    assert list(free.sample_seeds()) != a
    infinite = SynthBrainDataset(synth_lib_dk, TINY)
    with pytest.raises(TypeError):
        len(infinite)
    it = iter(infinite)
    assert next(it)["image"].shape == (1, 32, 32, 32) and next(it)["label"].shape == (32, 32, 32)


def test_build_synth_cache_script(tmp_path) -> None:
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[4] / "scripts" / "build_synth_cache.py"
    spec = importlib.util.spec_from_file_location("build_synth_cache", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "cache"
    args = ["--out", str(out), "--n", "2", "--subset", "fsaverage", "--size", "24", "--spacing", "6",
            "--source-spacing", "3", "--full-label", "--seed", "4"]
    assert module.main(args) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["subset"] == "fsaverage" and manifest["sources"] == ["fsaverage"]
    assert [e["index"] for e in manifest["samples"]] == [0, 1]
    cache = SynthCacheDataset(out)
    s = cache[1]
    assert s["image"].shape == (1, 24, 24, 24) and s["label"].shape == (24, 24, 24)
    assert s["full_label"].shape == (24, 24, 24) and s["meta"]["source"] == "fsaverage"
    assert float(s["image"].min()) >= 0 and float(s["image"].max()) <= 1
    assert module.main(args[:-2] + ["--seed", "4", "--start", "2", "--n", "1"]) == 0  # extend
    assert len(SynthCacheDataset(out)) == 3
    assert module.main(["--out", str(tmp_path / "x"), "--n", "1", "--subset", "juelich"]) == 2
    assert module.main(["--out", str(out), "--n", "1", "--subset", "dk", "--size", "24", "--spacing", "6",
                        "--source-spacing", "3"]) == 2  # refuses to mix subsets in one cache
