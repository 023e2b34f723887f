"""Torch datasets: prepared scans for pretraining (multi-view) and fine-tuning (seg / class).

Randomness is derived from ``(seed, epoch, index)`` with ``numpy.random.default_rng``, never
from global state, so a sample is identical in any worker, after a resume, and on any rank.
Items are addressed by ``index`` (epoch from :meth:`set_epoch`) or by an ``(epoch, index)``
pair, which is what the training samplers yield so that persistent workers stay in step.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from volta_core.data.labels import LABEL_NAMES
from volta_core.data.prepare import PreparedSample, prepare_sample
from volta_core.data.reader import read_volume
from volta_core.data.records import SampleRecord
from volta_core.data.synthetic import make_subject
from volta_core.data.views import MultiViewCrop

TASKS = ("seg", "sex", "ad")


def split_key(key: int | tuple[int, int], epoch: int) -> tuple[int, int]:
    """``(epoch, index)`` from a dataset key (an index, or an ``(epoch, index)`` pair)."""
    if isinstance(key, tuple):
        return int(key[0]), int(key[1])
    return epoch, int(key)


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """A 62-bit seed for one sample of one epoch."""
    return int(np.random.default_rng([seed, epoch, index]).integers(0, 2**62))


class PreparedVolumes:
    """Lazily prepared (and optionally cached) model-space volumes of a list of records."""

    def __init__(self, records: Sequence[SampleRecord], *, spacing: float, size: int,
                 normalisation: str = "percentile", with_masks: bool = False, cache: bool = True,
                 space: str = "native", roi: str | None = None) -> None:
        self.records = list(records)
        self.spacing, self.size, self.normalisation = spacing, size, normalisation
        self.space, self.roi = space, roi
        self.with_masks, self.cache = with_masks, cache
        self._cache: dict[int, PreparedSample] = {}

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> PreparedSample:
        if index in self._cache:
            return self._cache[index]
        rec = self.records[index]
        img = read_volume(rec.image)
        mask = read_volume(rec.mask).data if (self.with_masks and rec.mask is not None) else None
        out = prepare_sample(img.data, img.affine, spacing=self.spacing, size=self.size,
                             normalisation=self.normalisation, mask=mask, space=self.space, roi=self.roi)
        if self.cache:
            self._cache[index] = out
        return out


class PreloadedVolumes:
    """Every volume of ``volumes`` prepared once, in this process, and kept as float16 in memory.

    Real scans for pretraining are registered to the template once (seconds each) instead of once per
    data-loader worker and epoch. With ``cache`` the arrays are also written there (``.npz``) and
    reused while ``key`` (what was prepared and how) is unchanged, so a resumed run starts at once.
    """

    def __init__(self, volumes: PreparedVolumes, *, cache: str | Path | None = None, key: str = "",
                 progress: Callable[[int, int], None] | None = None) -> None:
        images = self._read(cache, key)
        if images is None:
            images = []
            for i in range(len(volumes)):
                images.append(volumes[i].image.astype(np.float16))
                if progress is not None:
                    progress(i + 1, len(volumes))
            images = np.stack(images) if images else np.zeros((0,), np.float16)
            if cache is not None:
                Path(cache).parent.mkdir(parents=True, exist_ok=True)
                tmp = Path(cache).with_name(f"{Path(cache).stem}.{os.getpid()}.tmp.npz")  # ranks may race
                np.savez(tmp, images=images, key=np.asarray(key))
                tmp.replace(cache)
        self.images = images
        self.records = getattr(volumes, "records", [])  # what was prepared (provenance)
        self.affine = np.eye(4)

    @staticmethod
    def _read(cache: str | Path | None, key: str) -> np.ndarray | None:
        if cache is None or not Path(cache).is_file():
            return None
        try:
            with np.load(cache, allow_pickle=False) as data:
                return data["images"] if str(data["key"]) == key else None
        except (OSError, ValueError, KeyError):
            return None  # a torn or foreign cache file: prepare again

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> PreparedSample:
        return PreparedSample(self.images[index].astype(np.float32), None, self.affine)


class MixedVolumes:
    """Synthetic brains with real scans mixed in (pretraining on both).

    Item ``i`` is a real scan with probability ``real_fraction`` (drawn from ``(seed, i)``, so the
    mix is the same on every rank and after a resume), else synthetic item ``i``. The length is the
    synthetic stream's.
    """

    def __init__(self, synthetic: Any, real: Any, *, real_fraction: float, seed: int = 0) -> None:
        if not 0.0 <= real_fraction <= 1.0:
            raise ValueError(f"real_fraction must be in [0, 1], got {real_fraction}")
        if len(real) == 0 and real_fraction > 0:
            raise ValueError("no real scans to mix in")
        self.synthetic, self.real, self.real_fraction, self.seed = synthetic, real, real_fraction, seed

    def __len__(self) -> int:
        return len(self.synthetic)

    def source(self, index: int) -> tuple[str, int]:
        """``("real", k)`` or ``("synthetic", index)``: where item ``index`` comes from."""
        rng = np.random.default_rng((self.seed, 7919, index))
        if rng.random() < self.real_fraction:
            return "real", int(rng.integers(len(self.real)))
        return "synthetic", index

    def __getitem__(self, index: int) -> PreparedSample:
        kind, k = self.source(index)
        return self.real[k] if kind == "real" else self.synthetic[k]


class SyntheticVolumes:
    """In-memory synthetic subjects already in model space (no files; for quick pretraining)."""

    def __init__(self, n: int, *, size: int, spacing: float, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.samples = []
        for _ in range(n):
            s = make_subject(rng, shape=size, spacing=spacing)
            img = s.image / max(float(np.percentile(s.image, 99.5)), 1e-6)
            self.samples.append(PreparedSample(np.clip(img, 0, 1).astype(np.float32), s.mask.astype(np.int64), s.affine))

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> PreparedSample:
        return self.samples[index]


class PretrainDataset(Dataset):
    """Two augmented global views per volume: ``{"views": [(1,S,S,S), (1,S,S,S)], "seed": int}``."""

    def __init__(self, volumes: PreparedVolumes | SyntheticVolumes, views: MultiViewCrop, seed: int = 0) -> None:
        self.volumes, self.views, self.seed, self.epoch = volumes, views, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.volumes)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any]:
        epoch, index = split_key(key, self.epoch)
        seed = sample_seed(self.seed, epoch, index)
        out = self.views(self.volumes[index].image, np.random.default_rng(seed))
        return {**out, "seed": seed}


class SupervisedDataset(Dataset):
    """Fine-tuning samples: ``{"image": (1,S,S,S), "mask": (S,S,S) | "label": int, "subject"}``.

    Args:
        volumes: prepared volumes (with masks for ``seg``).
        task: ``seg``, ``sex`` or ``ad``.
        augment: a transform ``(sample_dict, rng) -> sample_dict`` or ``None``.
        seed: base seed of the augmentation randomness.
    """

    def __init__(self, volumes: PreparedVolumes, task: str,
                 augment: Callable[[dict[str, np.ndarray], np.random.Generator], dict[str, np.ndarray]] | None = None,
                 seed: int = 0) -> None:
        if task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {task!r}")
        self.volumes, self.task, self.augment, self.seed, self.epoch = volumes, task, augment, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.volumes)

    def label(self, index: int) -> int:
        """Class index of a record (``LABEL_NAMES[task]`` order)."""
        rec = self.volumes.records[index]
        value = rec.sex if self.task == "sex" else rec.diagnosis
        return LABEL_NAMES[self.task].index(value)  # type: ignore[arg-type]

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any]:
        epoch, index = split_key(key, self.epoch)
        prepared = self.volumes[index]
        sample: dict[str, np.ndarray] = {"image": prepared.image}
        if self.task == "seg":
            if prepared.mask is None:
                raise ValueError(f"{self.volumes.records[index].subject} has no mask")
            sample["mask"] = prepared.mask
        if self.augment is not None:
            sample = self.augment(sample, np.random.default_rng(sample_seed(self.seed, epoch, index)))
        out: dict[str, Any] = {"image": torch.from_numpy(np.ascontiguousarray(sample["image"], dtype=np.float32))[None],
                               "subject": self.volumes.records[index].subject,
                               "spacing": self.volumes.spacing}
        if self.task == "seg":
            out["mask"] = torch.from_numpy(np.ascontiguousarray(sample["mask"], dtype=np.int64))
        else:
            out["label"] = self.label(index)
        return out
