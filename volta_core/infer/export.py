"""Writing a prediction: the mask on the scan's grid, a JSON summary and a CSV row."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from volta_core.contracts.prediction import Prediction
from volta_core.io import VolumeWriteError, save_mask
from volta_core.io.atomic import describe_os_error, write_text_atomically
from volta_core.io.volume import Volume

CSV_COLUMNS = (
    "scan", "status", "error", "hippocampus_left_ml", "hippocampus_right_ml", "hippocampus_total_ml",
    "icv_ml", "asymmetry_index", "amygdala_left_ml", "amygdala_right_ml",
    "inferior_lateral_ventricle_left_ml", "inferior_lateral_ventricle_right_ml", "hoc_left", "hoc_right",
    "p_sex_male", "p_ad", "registration_quality", "ood_score",
    "qc_warnings", "model", "segmenter", "device", "seconds", "source",
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
        "qc_warnings": one_line("; ".join(prediction.quality.warnings), limit=2000),
        "model": prediction.model.name,
        "segmenter": prediction.model.segmenter,
        "device": prediction.device,
        "seconds": _fmt(seconds if seconds is not None else sum(
            v for k, v in prediction.timings.items() if "." not in k), 2),
        "source": source,
    }


def failure_row(scan: str, error: str, *, source: str = "", seconds: float | None = None) -> dict[str, str]:
    row = {c: "" for c in CSV_COLUMNS}
    row.update(scan=scan, status="failed", error=one_line(error), source=source, seconds=_fmt(seconds, 2))
    return row


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON via a temporary file + rename, so a crash never leaves half a file.

    Raises:
        VolumeWriteError: the folder is not writable or the disk is full.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise VolumeWriteError(f"could not create {path.parent}: {describe_os_error(exc)}", path=path) from exc
    write_text_atomically(path, json.dumps(strict_json(data), indent=2, allow_nan=False))


def strict_json(value: Any) -> Any:
    """``value`` with numpy types as Python ones and NaN/inf as ``None`` (strict JSON has neither)."""
    if isinstance(value, dict):
        return {str(k): strict_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_json(v) for v in value]
    if isinstance(value, (np.generic, np.ndarray)):
        return strict_json(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def one_line(text: str, limit: int = 500) -> str:
    """``text`` as one line without control characters (CSV cells, terminal lines), at most ``limit`` long."""
    flat = " ".join("".join(ch if ch.isprintable() else " " for ch in str(text)).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


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
