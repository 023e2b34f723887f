"""Small BIDS datasets for the BIDS-App tests: a synthetic cohort plus real-geometry scans.

Every scan is the shipped template T1 (a real head that registers in seconds) in another
intensity, geometry or format; the corrupt one is a truncated gzip stream, so it fails at once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage

from tests.core.infer.predict_helpers import ENV, small_brain, write_broken, write_scan
from volta_core.preprocess.template import load_template

PARTICIPANTS = (
    "participant_id\tage\tsex\tgroup\tsite\n"
    "sub-01\t71\tF\tAD\tA\n"
    "sub-02\t64\tM\tCN\tB\n"
    "sub-03\t58\tF\tCN\tA\n"
    "sub-04\t69\tM\tMCI\tB\n"
    "sub-05\tn/a\tF\tCN\tA\n"
    "sub-06\t77\tM\tAD\tB\n"
    "sub-07\t66\tF\tCN\tA\n"
    "sub-08\t73\tM\tMCI\tB\n"
    "sub-09\t61\tF\tCN\tA\n"  # listed, but has no scan: a 'missing' row
)


def cohort_scan(path: Path, seed: int) -> Path:
    """A cohort member: the template at 4.5 mm with its own contrast, gain and noise (deterministic)."""
    data, affine = small_brain()
    rng = np.random.default_rng(seed)
    scan = (data / 255.0) ** rng.uniform(0.85, 1.15) * rng.uniform(400, 900)
    scan = scan + rng.normal(0, 6, scan.shape) * (data > 0)
    return write_scan(path, scan.astype(np.float32), affine)


def oblique_scan(path: Path, degrees: float = 12.0) -> Path:
    """The same voxels with an affine rotated about the left-right axis (an oblique acquisition)."""
    data, affine = small_brain()
    t = np.radians(degrees)
    rotation = np.eye(4)
    rotation[1:3, 1:3] = [[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]]
    centre = affine @ np.r_[(np.asarray(data.shape) - 1) / 2, 1]
    shift_in, shift_out = np.eye(4), np.eye(4)
    shift_in[:3, 3], shift_out[:3, 3] = -centre[:3], centre[:3]
    return write_scan(path, data, shift_out @ rotation @ shift_in @ affine)


def reoriented_scan(path: Path, axcodes: str = "LIA") -> Path:
    """The same image stored in another axis order (exact, no interpolation)."""
    data, affine = small_brain()
    transform = nib.orientations.ornt_transform(nib.orientations.io_orientation(affine),
                                                nib.orientations.axcodes2ornt(tuple(axcodes)))
    stored = nib.orientations.apply_orientation(data, transform)
    new_affine = affine @ nib.orientations.inv_ornt_aff(transform, data.shape)
    return write_scan(path, np.ascontiguousarray(stored), new_affine)


def two_mm_scan(path: Path) -> Path:
    """The template resampled to 2 mm voxels."""
    template = load_template()
    data = ndimage.zoom(np.asarray(template.image.data, dtype=np.float32), 0.75, order=1)
    affine = template.image.affine.copy()
    affine[:3, :3] = np.diag([2.0, 2.0, 2.0])
    return write_scan(path, data, affine)


def dicom_scan(folder: Path) -> Path:
    """The template at 4.5 mm as a DICOM series, one file per slice, in ``folder``."""
    from tests.helpers.dicom_series import write_dicom_series
    from volta_core.io import Volume

    data, affine = small_brain()
    write_dicom_series(Volume(np.round(data).astype(np.int16), affine), folder)
    return folder


def write_description(root: Path) -> None:
    (root / "dataset_description.json").write_text(json.dumps({"Name": "test cohort", "BIDSVersion": "1.9.0"}))


def full_dataset(root: Path) -> Path:
    """Nine scans of eight participants (one corrupt), sub-09 in participants.tsv without a scan."""
    cohort_scan(root / "sub-01/anat/sub-01_T1w.nii.gz", 1)
    cohort_scan(root / "sub-02/ses-1/anat/sub-02_ses-1_T1w.nii.gz", 2)
    cohort_scan(root / "sub-02/ses-2/anat/sub-02_ses-2_acq-mprage_run-1_T1w.nii.gz", 3)
    cohort_scan(root / "sub-03/anat/sub-03_T1w.nii.gz", 4)
    oblique_scan(root / "sub-04/anat/sub-04_acq-oblique_T1w.nii.gz")
    reoriented_scan(root / "sub-05/anat/sub-05_acq-lia_T1w.nii")
    two_mm_scan(root / "sub-06/anat/sub-06_acq-2mm_T1w.nii.gz")
    dicom_scan(root / "sub-07/anat/sub-07_T1w")
    write_broken(root / "sub-08/anat/sub-08_T1w.nii.gz")
    (root / "participants.tsv").write_text(PARTICIPANTS)
    write_description(root)
    return root


def volta(*args: str | Path, model: Path | None = None, env: dict[str, str] | None = None,
          timeout: float = 600, launcher: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """``volta predict ARGS`` as a real process (``--device cpu --threads 1`` for the participant stage)."""
    command = [*(launcher or (sys.executable,)), "-m", "volta_core.cli", "predict", *map(str, args)]
    if "participant" in map(str, args):
        command += ["--device", "cpu", "--threads", "1"]
    if model is not None:
        command += ["--model", str(model)]
    environment = {**without_slurm_or_torchrun(ENV), **(env or {})}
    return subprocess.run(command, capture_output=True, text=True, env=environment, timeout=timeout)


def read_tsv(path: Path) -> list[dict[str, str]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    header = lines[0].split("\t")
    return [dict(zip(header, line.split("\t"))) for line in lines[1:]]


def without_slurm_or_torchrun(env: dict[str, str] | None = None) -> dict[str, str]:
    """The test process's environment minus variables that would shard a child by accident."""
    base = dict(env or os.environ)
    for name in list(base):
        if name.startswith("SLURM_ARRAY_") or name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE"):
            del base[name]
    return base
