"""A stand-in for the SynthSeg label-map folder (CI has none): copies of fsaverage's aseg.mgz."""

from __future__ import annotations

import shutil
from pathlib import Path

import nibabel as nib
import numpy as np

from volta_core.data.synth.sources import builtin_specs


def fsaverage_label_maps(folder: Path, n: int = 5) -> Path:
    """Write ``training_seg_01..n.nii.gz`` into ``folder`` (created): fsaverage's aseg (FreeSurfer
    protocol) as int16 NIfTI, so that the recipe's every-5th hold-out leaves map 05 out."""
    folder.mkdir(parents=True, exist_ok=True)
    aseg = next(s for s in builtin_specs() if s.subset == "fsaverage").label_path
    image = nib.load(str(aseg))
    first = folder / "training_seg_01.nii.gz"
    nib.save(nib.Nifti1Image(np.asarray(image.dataobj).astype(np.int16), image.affine), str(first))
    for i in range(2, n + 1):
        shutil.copy(first, folder / f"training_seg_{i:02d}.nii.gz")
    return folder
