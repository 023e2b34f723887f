"""The lab's own training set: scans with masks the user corrected in the app, in BIDS layout.

"Add to my training set" stores the open scan and its corrected mask::

    <lab dataset>/
      dataset_description.json, participants.tsv
      sub-003/anat/sub-003_T1w.nii.gz
      derivatives/volta-corrections/
        dataset_description.json
        sub-003/anat/sub-003_desc-hippocampus_dseg.nii.gz   # 0 background, 1 left, 2 right
        sub-003/anat/sub-003_desc-hippocampus_dseg.json     # provenance

Subject IDs are generated (``sub-001``, ``sub-002``...): never the scan's file name or the
patient's name, and the scan is written without its header description or metadata. The sidecar
records who corrected which model's mask and when (model name and a hash of its card, the OS user
name, the date), and a hash of the image so the same scan added again replaces its earlier mask
instead of becoming a second subject. The folder is what ``volta finetune --data`` reads
(``volta_core.data.bids``: ``*_dseg`` masks under ``derivatives/``).

Qt-free and torch-free: imports numpy, nibabel (through ``volta_core.io``) and the stdlib.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from app.state.model_catalog import APP_NAME
from volta_core.contracts.prediction import LABEL_NAMES as LABELS
from volta_core.contracts.prediction import label_names_for

#: the labels of this app's masks from a model that also segments amygdala and inferior lateral
#: ventricle (3-6): kept as they are, so that a fine-tune from such a model keeps its structures
APP_LABELS = label_names_for(7)

#: Point this at a folder to keep the lab training set there (tests use a temporary one).
LAB_DATASET_ENV = "VOLTA_LAB_DATASET"
PIPELINE = "volta-corrections"


class LabDatasetError(OSError):
    """The lab dataset cannot take the case (no mask, nothing corrected, folder not writable)."""


@dataclass(frozen=True)
class AddedCase:
    """Where a case went: its generated subject ID, scan, mask and provenance sidecar."""

    subject: str
    scan: Path
    mask: Path
    sidecar: Path
    replaced: bool


def lab_dataset_dir() -> Path:
    """``$VOLTA_LAB_DATASET`` or ``<user data dir>/VolTA-3D Studio/lab-dataset``."""
    override = os.environ.get(LAB_DATASET_ENV)
    if override:
        return Path(override)
    from platformdirs import user_data_dir

    return Path(user_data_dir(APP_NAME, appauthor=False)) / "lab-dataset"


def card_hash(bundle: str | Path | None) -> str:
    """``sha256:<hex>`` of a bundle's ``model_card.json`` ("" if there is none)."""
    if not bundle:
        return ""
    try:
        return "sha256:" + hashlib.sha256((Path(bundle) / "model_card.json").read_bytes()).hexdigest()
    except OSError:
        return ""


def image_hash(data: np.ndarray, affine: np.ndarray) -> str:
    """A hash of the voxels and the grid (not of the file: the same scan read from DICOM or NIfTI)."""
    digest = hashlib.sha256(np.ascontiguousarray(data).tobytes())
    digest.update(np.asarray(affine, dtype=np.float64).round(4).tobytes())
    return "sha256:" + digest.hexdigest()


def editor_name() -> str:
    """The OS user name of whoever corrected the mask."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no user name in the environment or the password database
        return "unknown"


def _subjects(root: Path) -> list[str]:
    return sorted(p.name for p in root.glob("sub-*") if p.is_dir() and re.fullmatch(r"sub-\d+", p.name))


def _sidecar(root: Path, subject: str) -> Path:
    return root / "derivatives" / PIPELINE / subject / "anat" / f"{subject}_desc-hippocampus_dseg.json"


def find_subject(root: Path, digest: str) -> str | None:
    """The subject whose scan has this image hash, if the scan was added before."""
    for subject in _subjects(root):
        try:
            if json.loads(_sidecar(root, subject).read_text(encoding="utf-8")).get("ImageHash") == digest:
                return subject
        except (OSError, ValueError):
            continue
    return None


def next_subject(root: Path) -> str:
    """``sub-NNN`` one above the highest number in use."""
    numbers = [int(s[4:]) for s in _subjects(root)]
    return f"sub-{max(numbers, default=0) + 1:03d}"


def _write_descriptions(root: Path) -> None:
    raw = root / "dataset_description.json"
    if not raw.is_file():
        raw.write_text(json.dumps({"Name": "VolTA-3D Studio lab training set", "BIDSVersion": "1.8.0",
                                   "DatasetType": "raw",
                                   "GeneratedBy": [{"Name": APP_NAME, "Description": "Add to my training set"}]},
                                  indent=2), encoding="utf-8")
    derivative = root / "derivatives" / PIPELINE / "dataset_description.json"
    if not derivative.is_file():
        derivative.parent.mkdir(parents=True, exist_ok=True)
        derivative.write_text(json.dumps({"Name": "hippocampus masks corrected in VolTA-3D Studio",
                                          "BIDSVersion": "1.8.0", "DatasetType": "derivative",
                                          "GeneratedBy": [{"Name": APP_NAME}]}, indent=2), encoding="utf-8")


def _write_participants(root: Path) -> None:
    rows = ["participant_id\tsex\tdiagnosis"] + [f"{s}\tn/a\tn/a" for s in _subjects(root)]
    (root / "participants.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")


def add_case(root: str | Path, data: np.ndarray, affine: np.ndarray, labels: np.ndarray, *,
             model_name: str, model_bundle: str | Path | None, edited: bool,
             editor: str | None = None, now: datetime | None = None) -> AddedCase:
    """Store a scan and its (corrected) hippocampus mask in the lab dataset.

    Args:
        root: the lab dataset folder (created).
        data: ``(I, J, K)`` scan voxels in storage order.
        affine: voxel -> RAS mm of ``data`` (and ``labels``).
        labels: ``(I, J, K)`` 0/1/2 on the scan's grid, or this app's labels of a model that also
            segments amygdala and inferior lateral ventricle (3-6; stored as they are: the lab
            fine-tune then trains those structures too).
        model_name, model_bundle: the model whose mask was corrected (its card is hashed).
        edited: whether the user changed the model's mask (recorded; an unedited mask is refused).
        editor: who corrected it (default: the OS user name).
        now: the date recorded (default: now, UTC).

    Raises:
        LabDatasetError: nothing was corrected, the mask is empty or the folder cannot be written.
    """
    from volta_core.io import Volume, save_mask, save_volume
    from volta_core.io.errors import VolumeWriteError

    labels = np.asarray(labels)
    if not edited:
        raise LabDatasetError("The mask is the model's own: correct it first (paint or erase), then add it, "
                              "so that the model learns something new.")
    if labels.shape != np.asarray(data).shape:
        raise LabDatasetError(f"The mask {labels.shape} is not on the scan's grid {np.asarray(data).shape}.")
    if not np.isin(labels, list(APP_LABELS)).all():
        raise LabDatasetError("The mask must hold this app's labels (1 = left, 2 = right hippocampus; 3-6 "
                              "amygdala and inferior lateral ventricle) and nothing else.")
    if not np.isin(labels, [1, 2]).any():
        raise LabDatasetError("The mask holds no left (1) or right (2) hippocampus label: nothing to train on.")
    names = APP_LABELS if labels.max() > max(LABELS) else LABELS
    root = Path(root)
    digest = image_hash(data, affine)
    try:
        root.mkdir(parents=True, exist_ok=True)
        existing = find_subject(root, digest)
        subject = existing or next_subject(root)
        anat = root / subject / "anat"
        der = root / "derivatives" / PIPELINE / subject / "anat"
        anat.mkdir(parents=True, exist_ok=True)
        der.mkdir(parents=True, exist_ok=True)
        # no metadata: a DICOM's or NIfTI header's description may name the patient
        scan = Volume(np.asarray(data), np.asarray(affine, dtype=np.float64), metadata={})
        scan_path = save_volume(scan, anat / f"{subject}_T1w.nii.gz")
        mask_path = save_mask(labels.astype(np.uint8), scan, der / f"{subject}_desc-hippocampus_dseg.nii.gz",
                              labels=names)
        provenance: dict[str, Any] = {
            "Description": "hippocampus mask predicted by a model and corrected by hand in VolTA-3D Studio",
            "Sources": [f"bids::{subject}/anat/{subject}_T1w.nii.gz"],
            "Labels": {str(k): v for k, v in names.items()},
            "Model": {"Name": model_name, "CardHash": card_hash(model_bundle)},
            "Editor": editor or editor_name(),
            "Date": (now or datetime.now(timezone.utc)).isoformat(timespec="seconds"),
            "Corrected": True,
            "ImageHash": digest,
        }
        sidecar = _sidecar(root, subject)
        sidecar.write_text(json.dumps(provenance, indent=2), encoding="utf-8")
        _write_descriptions(root)
        _write_participants(root)
    except (OSError, VolumeWriteError) as exc:
        raise LabDatasetError(f"The lab dataset {root} cannot be written ({exc}). Choose another folder "
                              f"or free some space.") from exc
    return AddedCase(subject, scan_path, mask_path, sidecar, existing is not None)


def case_count(root: str | Path) -> int:
    """How many corrected cases the lab dataset holds."""
    return sum(1 for s in _subjects(Path(root)) if _sidecar(Path(root), s).is_file())


def heldout_comparison(card: dict[str, Any]) -> str:
    """``held-out Dice 0.842 (start volta3d-hippocampus: 0.801) on 2 scans`` from a fine-tuned model's
    card, or "" when the run measured no starting model on held-out scans."""
    metrics = card.get("metrics") or {}
    start = metrics.get("starting_model")
    if not isinstance(start, dict) or start.get("split") != "val":
        return ""
    key = "dice" if "dice" in metrics else "auroc" if "auroc" in metrics else ""
    new, old = metrics.get(key), start.get(key)
    if not key or not isinstance(new, (int, float)) or not isinstance(old, (int, float)):
        return ""
    label = "Dice" if key == "dice" else "AUROC"
    return (f"held-out {label} {new:.3f} (start {start.get('name') or 'model'}: {old:.3f}) "
            f"on {start.get('n', '?')} scan(s)")
