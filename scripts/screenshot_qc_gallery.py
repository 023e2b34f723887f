"""Save ``resources/screenshots/qc_gallery.png`` and ``resources/screenshots/group_report.png``:
the QC gallery of a small demo cohort with a few marks made (by clicks and keys in headless
Chromium), and the group report page of a synthetic 60-scan cohort.

The demo cohort is the bundled sample scan (fsaverage) with FreeSurfer's own segmentation of it
(fsaverage6 ``aseg.mgz``, from the recipe's data package: hippocampus, amygdala and inferior
lateral ventricle on each side), altered per scan the way real failures look: a shrunken or
swollen mask, a mask shifted off the hippocampus, a 2 mm scan, an inverted contrast, a model that
segments the hippocampus only, and one scan that failed. Without that package, phantoms stand in.
The group report's numbers are synthetic (age, sex and ICV effects plus planted outliers).

Run: ``python scripts/screenshot_qc_gallery.py`` (needs ``chromium``; about a minute).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.helpers.headless_chromium import HeadlessChromium  # noqa: E402
from tests.helpers.qc_phantom import LABEL_NAMES, qc_phantom  # noqa: E402
from volta_core.report.gallery import write_gallery  # noqa: E402
from volta_core.report.group_report import write_group_report  # noqa: E402
from volta_core.report.qc import write_scan_qc  # noqa: E402

ASEG_TO_LABEL = {17: 1, 53: 2, 18: 3, 54: 4, 5: 5, 44: 6}  # FreeSurfer aseg -> this app's 1..6


def _real_scan() -> tuple[np.ndarray, np.ndarray, tuple[float, float, float]] | None:
    """The sample scan and FreeSurfer's labels of it, RAS-canonical; None without the data package."""
    import importlib.util

    import nibabel as nib

    from volta_core.io import sample_scan_path

    spec = importlib.util.find_spec("smriprep_freesurfer732")
    if spec is None or not spec.submodule_search_locations:
        return None
    aseg_path = Path(list(spec.submodule_search_locations)[0]) / "freesurfer/subjects/fsaverage6/mri/aseg.mgz"
    if not aseg_path.exists():
        return None
    scan = nib.as_closest_canonical(nib.load(str(sample_scan_path())))
    aseg = nib.as_closest_canonical(nib.load(str(aseg_path)))
    if scan.shape != aseg.shape or not np.allclose(scan.affine, aseg.affine, atol=1e-3):
        return None
    values = np.asarray(aseg.dataobj)
    labels = np.zeros(values.shape, np.uint8)
    for aseg_value, label in ASEG_TO_LABEL.items():
        labels[values == aseg_value] = label
    return np.asarray(scan.dataobj, dtype=np.float32), labels, tuple(float(z) for z in scan.header.get_zooms()[:3])


def _variants(base: tuple[np.ndarray, np.ndarray, tuple[float, float, float]] | None):
    """``(scan_id, image, labels, zooms, warnings)`` of the demo cohort."""
    from scipy import ndimage

    if base is None:  # phantoms, one per case
        zooms = (2.0, 2.0, 2.0)
        for i, (scale, warnings) in enumerate([(1.0, []), (0.75, []), (1.0, ["registration quality 0.29 (below 0.35)"]),
                                               (1.15, []), (0.9, ["inverted contrast"]), (1.0, [])]):
            image, labels = qc_phantom(hippocampus_scale=scale, seed=i)
            yield f"sub-{i + 1:02d}_T1w", image, labels, zooms, warnings
        return
    image, labels, zooms = base
    hippocampus = np.isin(labels, (1, 2))
    yield "sub-01_ses-1_T1w", image, labels, zooms, []
    eroded = labels.copy()
    eroded[hippocampus & ~ndimage.binary_erosion(hippocampus, iterations=2)] = 0
    yield "sub-02_ses-1_T1w", image, eroded, zooms, []
    shifted = np.roll(labels, 7, axis=2)  # 7 mm up: the mask sits on the wrong structure
    yield "sub-03_ses-1_T1w", image, shifted, zooms, ["registration quality 0.29 (below 0.35)"]
    coarse = image[::2, ::2, ::2]
    yield "sub-04_ses-1_acq-2mm_T1w", coarse, labels[::2, ::2, ::2], tuple(2 * z for z in zooms), []
    only_hippocampus = np.where(hippocampus, labels, 0).astype(np.uint8)
    yield "sub-05_ses-1_T1w", image, only_hippocampus, zooms, []
    inverted = np.where(image > 5, image.max() - image, 0).astype(np.float32)
    yield "sub-06_ses-1_T1w", inverted, labels, zooms, ["inverted contrast", "out-of-distribution scan (score 3.4)"]
    dilated = labels.copy()
    grown = ndimage.binary_dilation(hippocampus, iterations=2) & (labels == 0)
    dilated[grown] = ndimage.grey_dilation(labels * hippocampus, size=5)[grown]
    yield "sub-01_ses-2_T1w", image, dilated, zooms, []


def _numbers(labels: np.ndarray, zooms: tuple[float, float, float]) -> dict[str, float]:
    voxel_ml = float(np.prod(zooms)) / 1000
    counts = np.bincount(labels.ravel(), minlength=7) * voxel_ml
    hoc = [counts[h] / (counts[h] + counts[v]) if counts[v] > 0 else float("nan") for h, v in ((1, 5), (2, 6))]
    return {"hippocampus_left_ml": counts[1], "hippocampus_right_ml": counts[2], "hoc_left": hoc[0],
            "hoc_right": hoc[1], "icv_ml": 1482.0}


def gallery(out: Path, work: Path) -> None:
    rows = []
    for scan_id, image, labels, zooms, warnings in _variants(_real_scan()):
        png = write_scan_qc(image, labels, zooms, work / scan_id.split("_")[0] / "figures" / f"{scan_id}_qc.png",
                            LABEL_NAMES)
        rows.append({"scan_id": scan_id, "png": "../" + png.relative_to(work).as_posix(), "status": "ok",
                     "warnings": warnings, **_numbers(labels, zooms)})
    rows.insert(6, {"scan_id": "sub-07_ses-1_T1w", "png": "", "status": "failed", "warnings": [],
                    "error": "not a head: the image is 38 mm wide (a localizer?); check the series"})
    page = write_gallery(work / "qc" / "index.html", rows, title="Demo cohort: visual QC")
    with HeadlessChromium(width=1400, height=1180) as browser:
        browser.open(page.as_uri())
        browser.wait_images()
        browser.click("#scan-0 .rate.pass")
        browser.press("j")
        browser.press("p")
        browser.press("j")
        browser.press("f")
        browser.press("n")
        browser.type_text("mask 7 mm above the hippocampus: registration")
        browser.press("Escape")
        browser.click("#scan-6 .rate.fail")
        browser.click("#scan-2")
        browser.evaluate("window.scrollTo(0, 0)")
        browser.screenshot(out, full_page=True)
    print(f"wrote {out}")


def group_report(out: Path, work: Path) -> None:
    rng = np.random.default_rng(7)
    rows = []
    for i in range(60):
        sex = "FM"[i % 2]
        age = rng.uniform(55, 88)
        group = "AD" if i % 4 == 0 else "CN"
        icv = rng.normal(1390 if sex == "F" else 1560, 110)
        atrophy = 0.35 if group == "AD" else 0.0
        left = 3.1 + 0.0011 * (icv - 1475) - 0.018 * (age - 70) - atrophy + rng.normal(0, 0.2)
        right = left + rng.normal(0.09, 0.09)
        hoc = 0.86 - 0.004 * (age - 70) - atrophy / 5 + rng.normal(0, 0.02, size=2)
        rows.append({"scan_id": f"sub-{i + 1:03d}_ses-1_T1w", "participant_id": f"sub-{i + 1:03d}",
                     "age": round(age), "sex": sex, "group": group, "hippocampus_left_ml": left,
                     "hippocampus_right_ml": right, "hoc_left": hoc[0], "hoc_right": hoc[1], "icv_ml": icv,
                     "qc_warnings": "", "status": "ok"})
    rows[17]["hippocampus_right_ml"] = 0.9  # a mask that missed most of the structure
    rows[23]["qc_warnings"] = "inverted contrast"
    rows[41].update(status="failed", error="corrupt file: unexpected end of gzip stream", hippocampus_left_ml="",
                    hippocampus_right_ml="", hoc_left="", hoc_right="", icv_ml="")
    rows[52]["age"] = "n/a"
    html, _ = write_group_report(work / "group", rows)
    with HeadlessChromium(width=1080, height=1000) as browser:
        browser.open(html.as_uri())
        browser.screenshot(out, full_page=True)
    print(f"wrote {out}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=ROOT / "resources" / "screenshots")
    parser.add_argument("--only", choices=("gallery", "report"), default=None, help="make one picture only")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="volta-qc-shot-") as work:
        if args.only in (None, "gallery"):
            gallery(args.out_dir / "qc_gallery.png", Path(work) / "gallery")
        if args.only in (None, "report"):
            group_report(args.out_dir / "group_report.png", Path(work))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
