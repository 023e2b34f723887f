"""PyTorch datasets over the synthesis engine: an infinite on-the-fly stream and a disk cache.

DataLoader workers must be started with the ``spawn`` context here (a forked child of a
process that has used torch hangs on this machine)::

    loader = DataLoader(SynthBrainDataset(SourceLibrary("dk"), cfg, seed=0), batch_size=2,
                        num_workers=2, multiprocessing_context="spawn")

Only the library's specs are pickled into workers; each worker loads the sources itself.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, IterableDataset, get_worker_info

from volta_core.data.synth.config import SynthConfig
from volta_core.data.synth.generator import SynthGenerator
from volta_core.data.synth.sources import SourceLibrary


class SynthBrainDataset(IterableDataset):
    """Endless (or ``num_samples``-long) stream of synthetic samples.

    Seeding: each worker draws its sample seeds from ``SeedSequence([stream, epoch, worker])``
    where ``stream`` is ``seed`` if given (reproducible runs; call :meth:`set_epoch` for new
    samples every epoch) or else ``torch.initial_seed()``, which DataLoader makes different
    in every worker and every epoch.

    Args:
        library: source label maps (restricted to the training subset).
        config: synthesis configuration.
        seed: base seed, or ``None`` to follow ``torch.initial_seed()``.
        num_samples: samples per epoch over all workers (``None``: infinite).
        device: where to synthesise (keep ``"cpu"`` inside DataLoader workers).
        threads_per_worker: torch threads inside each worker (``None``: leave as is).
    """

    def __init__(self, library: SourceLibrary, config: SynthConfig | None = None, seed: int | None = 0,
                 num_samples: int | None = None, device: torch.device | str = "cpu",
                 threads_per_worker: int | None = 1) -> None:
        super().__init__()
        self.library = library
        self.config = config or SynthConfig()
        self.seed = seed
        self.num_samples = num_samples
        self.device = str(device)
        self.threads_per_worker = threads_per_worker
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Change the sample stream for a new epoch (when ``seed`` is fixed)."""
        self.epoch = int(epoch)

    def sample_seeds(self, worker_id: int = 0, num_workers: int = 1) -> Iterator[int]:
        """The per-sample seeds one worker uses (exposed for tests and caching)."""
        stream = self.seed if self.seed is not None else torch.initial_seed()
        rng = np.random.default_rng(np.random.SeedSequence([int(stream) % 2**63, self.epoch, worker_id]))
        count = None if self.num_samples is None else len(range(worker_id, self.num_samples, num_workers))
        produced = 0
        while count is None or produced < count:
            yield int(rng.integers(0, 2**62))
            produced += 1

    def __iter__(self) -> Iterator[dict[str, Any]]:
        info = get_worker_info()
        worker_id, num_workers = (info.id, info.num_workers) if info is not None else (0, 1)
        if info is not None and self.threads_per_worker:
            torch.set_num_threads(self.threads_per_worker)
        generator = SynthGenerator(self.library, self.config, self.device)
        for seed in self.sample_seeds(worker_id, num_workers):
            yield generator.sample(seed)

    def __len__(self) -> int:
        if self.num_samples is None:
            raise TypeError("infinite SynthBrainDataset has no length (set num_samples)")
        return self.num_samples


class SynthCacheDataset(Dataset):
    """Map-style dataset over a cache written by ``scripts/build_synth_cache.py`` (``.npz``).

    Args:
        root: cache folder with ``manifest.json``.

    Returns samples like the generator: ``{"image": (1, D, H, W) float32, "label": (D, H, W)
    int64, "meta": {...}}`` (plus ``"full_label"`` if it was cached).
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        manifest = self.root / "manifest.json"
        if not manifest.is_file():
            raise FileNotFoundError(f"{manifest} missing: build the cache with scripts/build_synth_cache.py")
        self.manifest = json.loads(manifest.read_text(encoding="utf-8"))
        self.entries = [e for e in self.manifest["samples"] if e["file"].endswith(".npz")]
        if not self.entries:
            raise ValueError(f"{self.root}: no .npz samples in the manifest")

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, index: int) -> dict[str, Any]:
        entry = self.entries[index]
        with np.load(self.root / entry["file"]) as data:
            out: dict[str, Any] = {
                "image": torch.from_numpy(data["image"].astype(np.float32)),
                "label": torch.from_numpy(data["label"].astype(np.int64)),
            }
            if "full_label" in data:
                out["full_label"] = torch.from_numpy(data["full_label"].astype(np.int64))
            affine = torch.from_numpy(data["affine"].astype(np.float64))
        meta = {k: v for k, v in entry.items() if k != "file"}
        meta["affine"] = affine
        out["meta"] = meta
        return out
