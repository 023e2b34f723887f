"""Small file helpers for the data tests."""

from __future__ import annotations

import nibabel as nib
import numpy as np


def save_nifti(path, data, affine=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(np.asarray(data), np.eye(4) if affine is None else affine), str(path))
    return path
