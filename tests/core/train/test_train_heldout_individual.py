"""The held-out test on individual anatomy, and its diagnostic twin on the maps trained on.

CI has no SynthSeg maps: copies of fsaverage's ``aseg.mgz`` (FreeSurfer protocol) make the folder.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from volta_core.data.synth.sources import builtin_specs
from volta_core.infer.cli_predict import default_bundle
from volta_core.train.heldout_individual import evaluate_individual


@pytest.fixture(scope="module")
def map_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    aseg = next(s for s in builtin_specs() if s.subset == "fsaverage").label_path
    folder = tmp_path_factory.mktemp("label_maps")
    image = nib.load(str(aseg))
    first = folder / "training_seg_01.nii.gz"
    nib.save(nib.Nifti1Image(np.asarray(image.dataobj).astype(np.int16), image.affine), str(first))
    for i in range(2, 6):
        shutil.copy(first, folder / f"training_seg_{i:02d}.nii.gz")
    return folder


def test_an_unknown_subset_is_refused_before_anything_loads(map_folder: Path) -> None:
    with pytest.raises(ValueError, match="individual_heldout"):
        evaluate_individual(map_folder / "no-bundle", map_folder, subset="fsaverage")


@pytest.mark.slow  # one whole-head prediction with the shipped model
def test_the_trained_on_maps_can_be_scored_with_the_same_protocol(map_folder: Path) -> None:
    result = evaluate_individual(default_bundle(), map_folder, contrasts=("t1",), subset="individual", limit=1)
    assert result["maps"] == ["map_training_seg_01"]  # a training map, not the held-out 5th
    case = result["cases"][0]
    assert case["dice_left"] > 0.6 and case["dice_right"] > 0.6
    assert abs(case["volume_error_left"]) < 0.5
