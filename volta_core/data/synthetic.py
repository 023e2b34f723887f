"""Toy synthetic "heads" for tests and for trying the pipeline without data.

Each subject is an ellipsoid head (skull shell, brain, two ventricles) with two
hippocampus-like ellipsoids, label 1 on the subject's left and 2 on the right. Labels leave a
trace in the anatomy so every task is learnable: males have slightly larger heads, AD subjects
smaller hippocampi and larger ventricles. The realistic generator (SynthSeg-style, see
``/work/shared/DATA.md``) is a later issue; this one only has to be cheap and well-defined.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage


@dataclass
class SyntheticSubject:
    """One generated subject: image and labels in RAS storage order, plus its metadata."""

    image: np.ndarray  # (S, S, S) float32
    mask: np.ndarray  # (S, S, S) uint8, 0/1/2
    affine: np.ndarray  # (4, 4)
    sex: str
    diagnosis: str


def _ellipsoid(grid: tuple[np.ndarray, ...], centre: np.ndarray, radii: np.ndarray) -> np.ndarray:
    return sum(((g - c) / r) ** 2 for g, c, r in zip(grid, centre, radii)) <= 1.0


def make_subject(rng: np.random.Generator, *, shape: int = 64, spacing: float = 3.0,
                 sex: str | None = None, diagnosis: str | None = None) -> SyntheticSubject:
    """Generate one subject on a ``shape``^3 grid of ``spacing`` mm voxels (RAS, centred at 0).

    The anatomy is defined in mm (head radii about 70-90 mm), so any grid shows the same head.
    """
    sex = sex or str(rng.choice(["F", "M"]))
    diagnosis = diagnosis or str(rng.choice(["CN", "AD"]))
    coords = (np.arange(shape) - (shape - 1) / 2.0) * spacing
    grid = np.meshgrid(coords, coords, coords, indexing="ij")  # x (L->R), y (P->A), z (I->S)
    head_scale = (1.05 if sex == "M" else 0.95) * rng.uniform(0.97, 1.03)
    shift = rng.normal(0.0, 2.0, size=3)
    head_r = np.array([70.0, 88.0, 75.0]) * head_scale
    head = _ellipsoid(grid, shift, head_r)
    brain = _ellipsoid(grid, shift, head_r - 9.0)
    img = np.zeros((shape,) * 3, np.float32)
    img[head] = 0.35
    img[brain] = 0.7
    atrophy = 0.7 if diagnosis == "AD" else 1.0
    vent_r = np.array([6.0, 20.0, 9.0]) * (1.6 if diagnosis == "AD" else 1.0)
    for side in (-1, 1):
        img[_ellipsoid(grid, shift + np.array([side * 9.0, 0.0, 8.0]), vent_r)] = 0.15
    mask = np.zeros((shape,) * 3, np.uint8)
    hip_r = np.array([8.0, 20.0, 8.0]) * atrophy * rng.uniform(0.93, 1.07)
    for label, side in ((1, -1), (2, 1)):  # label 1 = left = negative x in RAS
        centre = shift + np.array([side * 27.0, -12.0, -14.0]) + rng.normal(0.0, 1.0, size=3)
        blob = _ellipsoid(grid, centre, hip_r) & brain
        mask[blob] = label
        img[blob] = 0.5
    img = ndimage.gaussian_filter(img, sigma=0.6)
    img += rng.normal(0.0, 0.02, size=img.shape).astype(np.float32)
    img = np.clip(img, 0.0, None) * 1000.0
    affine = np.diag([spacing, spacing, spacing, 1.0])
    affine[:3, 3] = -(shape - 1) / 2.0 * spacing
    return SyntheticSubject(image=img.astype(np.float32), mask=mask, affine=affine, sex=sex,
                            diagnosis=diagnosis)


def write_synthetic_bids(out: str | Path, subjects: int = 8, *, shape: int = 64, spacing: float = 3.0,
                         seed: int = 0, las_every: int = 2) -> Path:
    """Write a small synthetic BIDS dataset with masks in ``derivatives/synthetic``.

    Sexes and diagnoses alternate so every class is present. Every ``las_every``-th subject is
    stored in LAS orientation (first axis flipped) to exercise reorientation; 0 disables it.

    Returns:
        The dataset root.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows = ["participant_id\tsex\tdiagnosis\tage"]
    for i in range(subjects):
        sub = f"sub-{i + 1:03d}"
        s = make_subject(rng, shape=shape, spacing=spacing, sex="FM"[i % 2],
                         diagnosis=("CN", "AD")[(i // 2) % 2])
        image, mask, affine = s.image, s.mask, s.affine
        if las_every and i % las_every == 1:
            image, mask = image[::-1].copy(), mask[::-1].copy()
            flip = np.diag([-1.0, 1.0, 1.0, 1.0])
            flip[0, 3] = shape - 1
            affine = affine @ flip
        anat = out / sub / "anat"
        anat.mkdir(parents=True, exist_ok=True)
        nib.save(nib.Nifti1Image(image, affine), str(anat / f"{sub}_T1w.nii.gz"))
        der = out / "derivatives" / "synthetic" / sub / "anat"
        der.mkdir(parents=True, exist_ok=True)
        nib.save(nib.Nifti1Image(mask, affine), str(der / f"{sub}_desc-hippocampus_mask.nii.gz"))
        rows.append(f"{sub}\t{s.sex}\t{s.diagnosis}\t{int(rng.integers(55, 85))}")
    (out / "participants.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (out / "dataset_description.json").write_text(json.dumps(
        {"Name": "VolTA-3D synthetic toy heads", "BIDSVersion": "1.8.0", "DatasetType": "raw",
         "GeneratedBy": [{"Name": "volta synth-data"}]}, indent=2), encoding="utf-8")
    desc = out / "derivatives" / "synthetic" / "dataset_description.json"
    desc.write_text(json.dumps({"Name": "synthetic hippocampus masks", "BIDSVersion": "1.8.0",
                                "DatasetType": "derivative"}, indent=2), encoding="utf-8")
    return out
