"""Does a classification head answer the same for a full-head scan and the same scan skull-stripped?

The sex head is trained on skull-stripped real scans and shipped for full-head scans from other
sites, where nobody here knows the sex. What can be measured is consistency: the same brain
with and without its head should get the same score. Pairs:

* individual whole-head label maps, each rendered as a T1-like scan of the whole head on its
  own 1 mm grid (:func:`volta_core.train.heldout_individual.render_map`), and the same image
  with every non-brain voxel set to 0 (background and the extra-cerebral labels: what a brain
  extraction leaves);
* FreeSurfer fsaverage ``orig.mgz`` (the bundled sample scan) and the same times its
  ``brainmask.mgz``, when the recipe's FreeSurfer package is installed.

The change of a probe's logit (full head minus stripped) is reported in units of the
between-subject sd of the logits of the scans it was trained on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

from volta_core.data.synth import fs_labels as fsl
from volta_core.data.synth.sources import builtin_specs, label_map_specs
from volta_core.infer.intensity import robust_intensities
from volta_core.infer.predictor import Predictor
from volta_core.io import Volume
from volta_core.preprocess.pipeline import preprocess
from volta_core.train.heldout_individual import render_map

RENDER_SEED = 5


@dataclass(frozen=True)
class PairViews:
    """The model's input views of full-head and stripped scans, one row per pair."""

    names: list[str]
    full: np.ndarray  # (N, X, Y, Z) float32
    stripped: np.ndarray


def brain_of(fs_ids: np.ndarray) -> np.ndarray:
    """Voxels a brain extraction keeps: labelled, and not one of the extra-cerebral labels
    (the synthesis engine's head layers and SynthSeg's scalp, skull, fat, muscle and eye clusters)."""
    return (fs_ids != 0) & ~np.isin(fs_ids, sorted(fsl.EXTRA_CEREBRAL))


def _pairs(label_maps: str | Path, limit: int, with_fsaverage: bool) -> Iterator[tuple[str, Volume, Volume]]:
    specs = label_map_specs(label_maps)
    for spec in specs[:limit] if limit else specs:
        image = nib.load(str(spec.label_path))
        fs_ids = np.asarray(image.dataobj).astype(np.int32)
        full = render_map(fs_ids, "t1", seed=RENDER_SEED)
        affine = image.affine.astype(np.float64)
        yield spec.name, Volume(full, affine), Volume(full * brain_of(fs_ids), affine)
    fsaverage = [s for s in builtin_specs() if s.subset == "fsaverage"] if with_fsaverage else []
    mri = Path(fsaverage[0].label_path).parent if fsaverage else None
    if mri is not None and (mri / "orig.mgz").is_file() and (mri / "brainmask.mgz").is_file():
        orig, mask = nib.load(str(mri / "orig.mgz")), nib.load(str(mri / "brainmask.mgz"))
        data = np.asarray(orig.dataobj).astype(np.float32)
        affine = orig.affine.astype(np.float64)
        yield "fsaverage", Volume(data, affine), Volume(data * (np.asarray(mask.dataobj) > 0), affine)


def prepare_pairs(predictor: Predictor, label_maps: str | Path, *, limit: int = 0, with_fsaverage: bool = True,
                  log: Callable[[str], None] | None = None) -> PairViews:
    """Render and preprocess every pair onto ``predictor``'s input view.

    Args:
        predictor: the bundle whose preprocessing (registration included) makes the views.
        label_maps: a folder of individual whole-head label maps (all of them are used: the
            sex head never saw them, and nothing here is scored against their labels).
        limit: only the first N maps (0 = all; tests use 1).
        with_fsaverage: add the fsaverage pair when its package is installed.
    """
    names, views = [], {"full": [], "stripped": []}
    for name, full, stripped in _pairs(label_maps, limit, with_fsaverage):
        for key, volume in (("full", full), ("stripped", stripped)):
            prep = preprocess(robust_intensities(volume)[0], predictor.spec, template=predictor.template)
            views[key].append(prep.data.astype(np.float32))
        names.append(name)
        if log:
            log(f"{name}: prepared with and without head")
    return PairViews(names, np.stack(views["full"]), np.stack(views["stripped"]))


def logit_changes(logit: Callable[[np.ndarray], np.ndarray], pairs: PairViews, spread: float) -> dict[str, Any]:
    """How far the head's logit moves when the head is taken off, in sd of the training scans.

    Args:
        logit: input views ``(N, X, Y, Z)`` -> logits ``(N,)``.
        pairs: from :func:`prepare_pairs`.
        spread: the sd of the logits of the scans the head was trained on.
    """
    full, stripped = logit(pairs.full), logit(pairs.stripped)
    delta = (full - stripped) / max(spread, 1e-12)
    return {"pairs": pairs.names, "logit_sd_training": float(spread), "delta_sd": [float(d) for d in delta],
            "mean_delta_sd": float(np.mean(delta)), "mean_abs_delta_sd": float(np.mean(np.abs(delta))),
            "max_abs_delta_sd": float(np.max(np.abs(delta))),
            "side_changes": int(np.sum((full >= 0) != (stripped >= 0))), "n_pairs": len(delta)}
