"""Synthetic samples on a model's input grid, normalised exactly as inference normalises.

:class:`SynthVolumes` is a drop-in for :class:`~volta_core.data.datasets.PreparedVolumes`
(``len``, ``[index] -> PreparedSample``, ``records``, ``spacing``), so ``volta pretrain`` and
``volta finetune --task seg`` train on synthetic brains with the engine they use for scans.

The grid is the one prediction crops after registering a scan to the template: the synth
sources live in MNI space, like the template, so the generator's output grid (``roi`` centred
on the hippocampi, or ``whole`` centred on the brain; random affine and elastic warps model
registration error and anatomy) stands for the registered crop. Intensities are then mapped
like ``preprocess`` does: percentiles 0.5/99.5 inside the template brain mask -> 0/1.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from volta_core.data.prepare import PreparedSample, size3
from volta_core.data.records import SampleRecord
from volta_core.data.synth.config import GridConfig, SynthConfig
from volta_core.data.synth.generator import SynthGenerator
from volta_core.data.synth.sources import SourceLibrary
from volta_core.preprocess.normalize import percentile_normalise, zscore_normalise
from volta_core.preprocess.resample import resample_array
from volta_core.preprocess.template import load_template

CACHE_LIMIT = 64  # small sets (few-label experiments, validation) are kept in memory


def synth_config(*, spacing: float, size: int | Sequence[int], roi: str | None, mode: str = "mixed",
                 template_prob: float = 0.3, overrides: dict[str, Any] | None = None,
                 structures: Sequence[str] = ("hippocampus",)) -> SynthConfig:
    """The :class:`SynthConfig` whose output grid is a model's input grid."""
    shape = size3(size)
    grid = GridConfig.roi(shape, spacing) if roi else GridConfig.whole(shape[0], spacing)
    grid.shape = shape
    base = SynthConfig(mode=mode, template_prob=template_prob, grid=grid,  # type: ignore[arg-type]
                       structures=tuple(structures)).to_dict()
    for key, value in (overrides or {}).items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = {**base[key], **value}
        else:
            base[key] = value
    return SynthConfig.from_dict(base)


class _Records(Sequence[SampleRecord]):
    """Lightweight per-sample records (subject ids only) for datasets that read ``.records``."""

    def __init__(self, prefix: str, n: int) -> None:
        self.prefix, self.n = prefix, n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index):  # type: ignore[no-untyped-def, override]
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self.n))]
        if not -self.n <= index < self.n:
            raise IndexError(index)
        return SampleRecord(subject=f"{self.prefix}-{index % self.n:06d}", image=Path(f"synth://{self.prefix}/{index}"))


class SynthVolumes:
    """``n`` synthetic samples; sample ``i`` is always drawn with the same seed.

    Args:
        subset: source subset (``"dk"``, ``"fsaverage"`` or ``"all"``).
        spacing, size, normalisation, roi: the model input (``space`` is always the template's).
        n: number of distinct samples.
        seed: stream seed (validation sets use a different one).
        config: full synthesis config (defaults from :func:`synth_config`).
        with_masks: return the structure labels as ``mask``.
        label_maps: folder of individual label maps (for the ``individual`` subsets).
    """

    def __init__(self, subset: str, *, spacing: float, size: int | Sequence[int], normalisation: str = "percentile",
                 roi: str | None = "hippocampus", n: int = 1000, seed: int = 0, config: SynthConfig | None = None,
                 with_masks: bool = True, source_spacing: float = 1.0, label_maps: str = "") -> None:
        if normalisation not in ("percentile", "zscore", "none"):
            raise ValueError(f"normalisation must be percentile, zscore or none, got {normalisation!r}")
        self.subset, self.spacing, self.shape = subset, float(spacing), size3(size)
        self.normalisation, self.roi, self.n, self.seed = normalisation, roi, int(n), int(seed)
        self.config = config or synth_config(spacing=spacing, size=size, roi=roi)
        self.with_masks, self.source_spacing, self.label_maps = with_masks, source_spacing, label_maps
        self.records = _Records(f"synth-{subset}-s{seed}", self.n)
        self._generator: SynthGenerator | None = None
        self._mask_cache: dict[bytes, np.ndarray] = {}
        self._cache: dict[int, PreparedSample] = {}

    def __len__(self) -> int:
        return self.n

    def __getstate__(self) -> dict[str, Any]:  # DataLoader workers build their own generator
        state = dict(self.__dict__)
        state["_generator"], state["_mask_cache"], state["_cache"] = None, {}, {}
        return state

    def seed_of(self, index: int) -> int:
        """The generator seed of sample ``index``."""
        return int(np.random.default_rng(np.random.SeedSequence([self.seed, int(index)])).integers(0, 2**62))

    def _brain_mask(self, affine: np.ndarray) -> np.ndarray:
        key = np.round(affine, 4).tobytes()
        if key not in self._mask_cache:
            if len(self._mask_cache) > 256:
                self._mask_cache.clear()
            mask = load_template().mask
            to_mask = np.linalg.inv(mask.affine) @ affine
            self._mask_cache[key] = resample_array(mask.data, self.shape, to_mask, order=0) > 0
        return self._mask_cache[key]

    def __getitem__(self, index: int) -> PreparedSample:
        if not 0 <= index < self.n:
            raise IndexError(index)
        if index in self._cache:
            return self._cache[index]
        if self._generator is None:
            self._generator = SynthGenerator(SourceLibrary(self.subset, self.source_spacing,
                                                                    label_maps=self.label_maps or None), self.config, "cpu")
        with torch.no_grad():
            sample = self._generator.sample(self.seed_of(index))
        image = sample["image"][0].numpy().astype(np.float32)
        affine = sample["meta"]["affine"].numpy()
        if self.normalisation != "none":
            mask = self._brain_mask(affine) & (image > 0)
            norm = zscore_normalise if self.normalisation == "zscore" else percentile_normalise
            image = norm(image, mask).data.astype(np.float32)
        labels = sample["label"].numpy().astype(np.int64) if self.with_masks else None
        out = PreparedSample(image, labels, affine)
        if self.n <= CACHE_LIMIT:
            self._cache[index] = out
        return out


def synth_volumes(synth: Any, data: Any, *, split: str = "train", with_masks: bool = True) -> SynthVolumes:
    """:class:`SynthVolumes` of a run config's ``synth`` and ``data`` blocks.

    Args:
        synth: a :class:`volta_core.config.SynthDataConfig` with ``subset`` set.
        data: the :class:`volta_core.config.DataConfig` (``space`` must be ``"template"``).
        split: ``"train"`` (``n_train`` samples, stream ``seed``) or ``"val"`` (``n_val``,
            a separate stream).

    Raises:
        ValueError: synthetic data asked for in native space.
    """
    if data.space != "template":
        raise ValueError("synthetic brains live in template (MNI) space: set data.space=template "
                         "(and data.roi=hippocampus for the hippocampus region)")
    config = synth_config(spacing=data.spacing, size=data.size, roi=data.roi, mode=synth.mode,
                          template_prob=synth.template_prob, overrides=synth.overrides,
                          structures=getattr(synth, "structures", ("hippocampus",)))
    if split == "train":
        n, seed = synth.n_train, synth.seed
    elif split == "val":
        n, seed = synth.n_val, synth.seed + 1_000_003
    else:
        raise ValueError(f"split must be 'train' or 'val', got {split!r}")
    return SynthVolumes(synth.subset, spacing=data.spacing, size=data.size, normalisation=data.normalisation,
                        roi=data.roi, n=n, seed=seed, config=config, with_masks=with_masks,
                        label_maps=getattr(synth, "label_maps", ""))
