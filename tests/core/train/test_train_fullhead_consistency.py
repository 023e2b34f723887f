"""The full-head consistency check of a classification head (scripts/build_sex_head.py --label-maps)."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage

from volta_core.data.synth import fs_labels as fsl
from volta_core.data.synth.sources import builtin_specs
from volta_core.train.fullhead_consistency import PairViews, brain_of, logit_changes, prepare_pairs

BUNDLED = Path(__file__).resolve().parents[3] / "resources" / "models" / "volta3d-hippocampus"


def test_brain_extraction_keeps_brain_and_csf_and_drops_every_head_label():
    ids = np.array([0, 17, 2, 24, 4, 44, fsl.SKULL, fsl.SOFT_TISSUE, fsl.CSF_RIM, fsl.FAT, 502, 530, 1035, 2035])
    keep = brain_of(ids)
    assert keep.tolist() == [False, True, True, True, True, True, False, False, False, False, False, False, True, True]


def test_logit_changes_are_in_sd_of_the_training_scans():
    pairs = PairViews(["a", "b", "c"], np.array([1.0, 2.0, -1.0])[:, None, None, None] * np.ones((3, 2, 2, 2)),
                      np.array([0.5, 2.0, 1.0])[:, None, None, None] * np.ones((3, 2, 2, 2)))
    r = logit_changes(lambda v: v.mean(axis=(1, 2, 3)), pairs, spread=0.5)
    np.testing.assert_allclose(r["delta_sd"], [1.0, 0.0, -4.0])
    assert r["mean_abs_delta_sd"] == 5 / 3 and r["max_abs_delta_sd"] == 4.0
    assert r["side_changes"] == 1 and r["n_pairs"] == 3 and r["pairs"] == ["a", "b", "c"]


def _head_map(folder) -> None:
    """fsaverage's aseg with a scalp (502) and skull (259) around it: a whole-head label map."""
    aseg = nib.load(str(next(s for s in builtin_specs() if s.subset == "fsaverage").label_path))
    ids = np.asarray(aseg.dataobj).astype(np.int16)
    brain = ids > 0
    skull = ndimage.binary_dilation(brain, iterations=4) & ~brain
    scalp = ndimage.binary_dilation(brain, iterations=9) & ~brain & ~skull
    ids[skull], ids[scalp] = fsl.SKULL, 502
    for name in ("training_seg_01", "training_seg_02"):
        nib.save(nib.Nifti1Image(ids, aseg.affine), str(folder / f"{name}.nii.gz"))


def test_pairs_are_the_same_brain_with_and_without_its_head(tmp_path):
    from volta_core.infer.predictor import Predictor

    _head_map(tmp_path)
    predictor = Predictor.from_bundle(BUNDLED, device="cpu")
    pairs = prepare_pairs(predictor, tmp_path, limit=1, with_fsaverage=False)
    assert pairs.names == ["map_training_seg_01"]
    assert pairs.full.shape == pairs.stripped.shape == (1, *predictor.spec.size)
    full, stripped = pairs.full[0], pairs.stripped[0]
    assert np.abs(full - stripped).max() > 0.1  # the head is gone ...
    inside = stripped > 0.2
    assert np.corrcoef(full[inside], stripped[inside])[0, 1] > 0.9  # ... the brain is the same
