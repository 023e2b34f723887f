"""One ``volta predict``-style CSV row for a (possibly corrected) prediction."""

from __future__ import annotations

import csv
from pathlib import Path

from app.state.results import corrected_prediction
from app.state.segmentation import Segmentation


def write_csv_row(path: Path, segmentation: Segmentation, *, source: str = "",
                  patient: dict[str, str] | None = None, scan: str | None = None) -> Path:
    """Write a header and one row (``CSV_COLUMNS``, then ``patient_*`` columns only if given).

    Args:
        source: the scan's path for the ``source`` column ("" leaves it out).
        scan: what the ``scan`` column says (default: the prediction's scan name).
    """
    from volta_core.infer.export import CSV_COLUMNS, csv_row

    prediction = corrected_prediction(segmentation)
    row = csv_row(prediction, source=source)
    if scan is not None:
        row["scan"] = scan
    columns = list(CSV_COLUMNS)
    for key, value in (patient or {}).items():
        columns.append(f"patient_{key}")
        row[f"patient_{key}"] = str(value)
    path = Path(path)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerow({c: row.get(c, "") for c in columns})
    return path
