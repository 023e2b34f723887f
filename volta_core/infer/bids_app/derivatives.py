"""The BIDS-derivatives files the BIDS App writes (layout in the README, "Cohorts")::

    OUT/dataset_description.json
    OUT/sub-01[/ses-1]/anat/sub-01[_ses-1]..._desc-hippocampus_dseg.nii.gz   labels on the scan's own grid
    OUT/sub-01[/ses-1]/anat/..._desc-hippocampus_dseg.tsv                    index, name, abbreviation, color
    OUT/sub-01[/ses-1]/anat/..._desc-hippocampus_dseg.json                   model, card hash, volumes, QC ...
    OUT/sub-01[/ses-1]/figures/<scan_id>_qc.png                              three planes through each hippocampus

File names keep every entity of the source scan (``sub``, ``ses``, ``acq``, ``run`` ...): the
``_T1w`` suffix becomes ``_desc-hippocampus_dseg``. Every file is written atomically.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

from volta_core.infer.bids_app.scans import T1W_SUFFIX, BidsScan
from volta_core.infer.export import strict_json, write_json_atomic
from volta_core.io import Volume, save_mask
from volta_core.io.atomic import write_text_atomically

BIDS_VERSION = "1.9.0"
PIPELINE_NAME = "volta-predict"
DESC = "desc-hippocampus"
_ABBREVIATIONS = {"hippocampus": "Hip", "amygdala": "Amy", "inferior lateral ventricle": "ILV"}
_warned_no_report = False


def package_version() -> str:
    """The installed version of this program (``unknown`` in a bare checkout)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("volta-studio")
    except PackageNotFoundError:
        return "unknown"


def derivative_prefix(stem: str) -> str:
    """``sub-01_ses-1_run-1_T1w`` -> ``sub-01_ses-1_run-1_desc-hippocampus`` (the output files' common start)."""
    base = stem[: -len(T1W_SUFFIX)] if stem.endswith(T1W_SUFFIX) else stem
    return f"{base}_{DESC}"


def dseg_path(scan: BidsScan, stem: str) -> str:
    """The labels' path relative to OUT."""
    return f"{scan.folder}/anat/{derivative_prefix(stem)}_dseg.nii.gz"


def qc_png_path(scan: BidsScan, stem: str) -> str:
    """The QC figure's path relative to OUT."""
    return f"{scan.folder}/figures/{stem}_qc.png"


def write_dataset_description(out: Path, *, model_name: str, model_hash: str, source: Path | None = None) -> Path:
    """``OUT/dataset_description.json`` of a derivative dataset, naming the program and the model."""
    description: dict[str, Any] = {
        "Name": "VolTA-3D hippocampus segmentation",
        "BIDSVersion": BIDS_VERSION,
        "DatasetType": "derivative",
        "GeneratedBy": [{
            "Name": PIPELINE_NAME,
            "Version": package_version(),
            "Description": f"VolTA-3D Studio 'volta predict' with model '{model_name}' "
                           f"(model card and weights SHA-256 {model_hash}). Research use only.",
            "ModelName": model_name,
            "ModelHash": model_hash,
        }],
    }
    if source is not None:
        description["SourceDatasets"] = [{"URL": Path(source).resolve().as_uri()}]
    path = out / "dataset_description.json"
    write_json_atomic(path, description)
    # what a BIDS validator should not look at: the per-scan records and the group's own files
    write_text_atomically(out / ".bidsignore", "records/\nqc/\nvolumes.tsv\nqc_marks.tsv\ngroup_report.*\n"
                                               ".results.lock\n")
    return path


def _abbreviation(name: str) -> str:
    side, _, structure = name.partition(" ")
    if side in ("left", "right") and structure in _ABBREVIATIONS:
        return f"{side[0].upper()}-{_ABBREVIATIONS[structure]}"
    return "".join(word[:1].upper() for word in name.split()) or "n/a"


def _colour(label: int, name: str) -> str:
    try:  # the report package owns the label colours (the app's); without it the column says n/a
        from volta_core.report.colours import hex_colour, label_colour
    except ImportError:
        return "n/a"
    return hex_colour(label_colour(label, name))


def dseg_table(label_names: dict[int, str]) -> str:
    """A BIDS ``_dseg.tsv``: one row per label other than background."""
    lines = ["index\tname\tabbreviation\tcolor"]
    for label in sorted(label_names):
        if label == 0:
            continue
        name = label_names[label]
        lines.append(f"{label}\t{name}\t{_abbreviation(name)}\t{_colour(label, name)}")
    return "\n".join(lines) + "\n"


def write_scan_derivatives(prediction: Any, volume: Volume, out: Path, scan: BidsScan, stem: str, *,
                           model_hash: str, options: dict[str, Any]) -> list[str]:
    """The labels, their table and the sidecar of one scan; returns their paths relative to ``out``.

    Raises:
        VolumeWriteError: the folder is not writable or the disk is full.
    """
    dseg = dseg_path(scan, stem)
    anat = (out / dseg).parent
    anat.mkdir(parents=True, exist_ok=True)
    labels = {int(k): str(v) for k, v in prediction.label_names.items()}
    save_mask(prediction.labels, volume, out / dseg, labels=labels)
    tsv = dseg[: -len(".nii.gz")] + ".tsv"
    write_text_atomically(out / tsv, dseg_table(labels))
    sidecar = dseg[: -len(".nii.gz")] + ".json"
    summary = prediction.summary()
    write_json_atomic(out / sidecar, strict_json({
        "Description": "Hippocampus segmentation on the scan's own grid (VolTA-3D). Research use only.",
        "Sources": [f"bids:raw:{scan.relative}"],
        "Manual": False,
        "ScanId": scan.scan_id,
        "Model": {"name": prediction.model.name, "card_hash": model_hash, **summary["model"]},
        "Options": options,
        "VolumesMl": summary["volumes_ml"],
        "IcvMl": summary["icv_ml"],
        "RelativeVolumesPercentIcv": summary["relative_volumes_percent_icv"],
        "AsymmetryIndex": summary["asymmetry_index"],
        "HippocampalOccupancy": summary["hippocampal_occupancy"],
        "Probabilities": summary["classification"],
        "Quality": summary["quality"],
        "QcWarnings": summary["quality"]["warnings"],
        "Labels": summary["labels"],
        "Device": summary["device"],
        "TimingsSeconds": summary["timings_s"],
    }))
    return [dseg, tsv, sidecar]


def ras_voxel_order(data: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, tuple[float, float, float]]:
    """``data`` with its axes permuted and flipped to the nearest R, A, S order (no resampling), and its zooms."""
    from nibabel.orientations import apply_orientation, axcodes2ornt, io_orientation, ornt_transform

    transform = ornt_transform(io_orientation(affine), axcodes2ornt(("R", "A", "S")))
    zooms = np.sqrt((np.asarray(affine)[:3, :3] ** 2).sum(axis=0))
    ras_zooms = [0.0, 0.0, 0.0]
    for axis, (new_axis, _flip) in enumerate(transform):
        ras_zooms[int(new_axis)] = float(zooms[axis])
    return np.ascontiguousarray(apply_orientation(data, transform)), (ras_zooms[0], ras_zooms[1], ras_zooms[2])


def write_qc_png(volume: Volume, labels: np.ndarray, label_names: dict[int, str], out_png: Path,
                 notes: list[str]) -> bool:
    """The scan's QC figure through :func:`volta_core.report.qc.write_scan_qc`.

    Without the report package, says so once per process and returns False; a figure that fails
    to draw is noted in ``notes`` (the numbers are kept).
    """
    global _warned_no_report
    try:
        from volta_core.report.qc import write_scan_qc
    except ImportError:
        if not _warned_no_report:
            _warned_no_report = True
            print("warning: volta_core.report is not installed: no QC figures", file=sys.stderr)
        return False
    image, zooms = ras_voxel_order(np.asarray(volume.data), volume.affine)
    ras_labels, _ = ras_voxel_order(np.asarray(labels), volume.affine)
    try:
        out_png.parent.mkdir(parents=True, exist_ok=True)
        write_scan_qc(image, ras_labels, zooms, out_png, label_names)
    except Exception as exc:  # noqa: BLE001 - a figure must never cost the scan its numbers
        notes.append(f"QC figure not written: {type(exc).__name__}: {exc}")
        return False
    return True
