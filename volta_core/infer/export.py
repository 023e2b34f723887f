"""Writing a prediction: the mask on the scan's grid, a JSON summary and a CSV row."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from volta_core.infer.prediction import Prediction
from volta_core.io import VolumeWriteError, save_mask
from volta_core.io.volume import Volume

CSV_COLUMNS = (
    "scan", "status", "error", "hippocampus_left_ml", "hippocampus_right_ml", "hippocampus_total_ml",
    "icv_ml", "asymmetry_index", "amygdala_left_ml", "amygdala_right_ml",
    "inferior_lateral_ventricle_left_ml", "inferior_lateral_ventricle_right_ml", "hoc_left", "hoc_right",
    "p_sex_male", "p_ad", "registration_quality", "ood_score",
    "qc_warnings", "model", "device", "seconds", "source",
)


def _fmt(value: float | None, digits: int = 4) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def csv_row(prediction: Prediction, *, source: str = "", seconds: float | None = None) -> dict[str, str]:
    """One ``results.csv`` row (all strings); untrained heads give ``not trained``."""
    cls = prediction.classification
    return {
        "scan": prediction.scan,
        "status": "ok",
        "error": "",
        "hippocampus_left_ml": _fmt(prediction.volumes_ml["left"]),
        "hippocampus_right_ml": _fmt(prediction.volumes_ml["right"]),
        "hippocampus_total_ml": _fmt(prediction.volumes_ml["total"]),
        "icv_ml": _fmt(prediction.icv_ml, 1),
        "asymmetry_index": _fmt(prediction.asymmetry_index),
        **{f"{key}_ml": _fmt(prediction.volumes_ml.get(key)) for key in (
            "amygdala_left", "amygdala_right", "inferior_lateral_ventricle_left", "inferior_lateral_ventricle_right")},
        "hoc_left": _fmt((prediction.hoc or {}).get("left")),
        "hoc_right": _fmt((prediction.hoc or {}).get("right")),
        "p_sex_male": _fmt(cls["sex"].probability) if cls["sex"].trained else "not trained",
        "p_ad": _fmt(cls["ad"].probability) if cls["ad"].trained else "not trained",
        "registration_quality": _fmt(prediction.quality.registration_quality, 3),
        "ood_score": _fmt(prediction.quality.ood_score, 3),
        "qc_warnings": "; ".join(prediction.quality.warnings),
        "model": prediction.model.name,
        "device": prediction.device,
        "seconds": _fmt(seconds if seconds is not None else sum(
            v for k, v in prediction.timings.items() if "." not in k), 2),
        "source": source,
    }


def failure_row(scan: str, error: str, *, source: str = "", seconds: float | None = None) -> dict[str, str]:
    row = {c: "" for c in CSV_COLUMNS}
    row.update(scan=scan, status="failed", error=error, source=source, seconds=_fmt(seconds, 2))
    return row


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON via a temporary file + rename, so a crash never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle, indent=2)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        raise VolumeWriteError(f"could not write {path}: {exc.strerror or exc}", path=path) from exc


def write_prediction(prediction: Prediction, scan: Volume, out_dir: Path, stem: str) -> dict[str, Path]:
    """Write ``<stem>_hippocampus_mask.nii.gz`` (the scan's exact grid) and ``<stem>.json``.

    Raises:
        VolumeWriteError: the folder is not writable or the disk is full.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    mask_path = out_dir / f"{stem}_hippocampus_mask.nii.gz"
    save_mask(prediction.labels, scan, mask_path, labels=dict(prediction.label_names))
    json_path = out_dir / f"{stem}.json"
    write_json_atomic(json_path, {**prediction.summary(), "mask": mask_path.name})
    return {"mask": mask_path, "json": json_path}
