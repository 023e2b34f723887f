"""Reading table cells tolerantly: a TSV row gives strings, a caller may give numbers."""

from __future__ import annotations

import math
import re
from typing import Any

MISSING_TEXT = frozenset({"", "n/a", "na", "nan", "none", "null", "not measured", "not trained"})


def as_float(value: Any) -> float:
    """A number, or NaN for anything missing or not numeric ("n/a", "", None, "abc")."""
    if value is None or isinstance(value, bool):
        return math.nan
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(str(value).strip())
    except ValueError:
        pass
    try:  # numpy scalars and the like
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def as_text(value: Any) -> str:
    """A cell as stripped text, ``""`` for missing values (None, NaN, "n/a")."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    text = str(value).strip()
    return "" if text.lower() in MISSING_TEXT else text


def as_warnings(value: Any) -> list[str]:
    """QC warnings from a list, or from one cell joined with ``;`` or ``|`` (``volumes.tsv``)."""
    if value is None:
        return []
    items = value if isinstance(value, (list, tuple)) else re.split(r"[;|]", str(value))
    return [text for text in (as_text(item) for item in items) if text]


def is_failed(row: dict[str, Any]) -> bool:
    """True when the row's ``status`` says the scan was not processed."""
    status = as_text(row.get("status")).lower()
    return status not in ("", "ok")


def format_number(key: str, value: float) -> str:
    """A short display form chosen by the column name (mL, HOC, ICV)."""
    if not math.isfinite(value):
        return "n/a"
    name = key.lower()
    if name.startswith("icv"):
        return f"{value:.0f} mL"
    if name.endswith("_ml"):
        return f"{value:.2f} mL"
    if name.startswith("hoc") or name.startswith("asymmetry") or name.startswith("p_"):
        return f"{value:.2f}"
    return f"{value:.3g}"
