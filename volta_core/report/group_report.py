"""The cohort report: hippocampal volumes and HOC against ICV (by sex) and against age, and the
scans to look at again (outliers, QC warnings, failures), as one HTML page and one PDF.

An outlier is a processed scan more than :data:`OUTLIER_SD` standard deviations from the cohort
mean on any volume (``*_ml`` columns, ICV included) or HOC; the mean and SD are over the scans
that were processed and have that value (at least 3 of them, else no scan is called an outlier
on it). Scans with any QC warning, and failed scans, are listed too.
"""

from __future__ import annotations

import base64
import html
import io
import math
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure

from volta_core.io.atomic import write_atomically, write_text_atomically
from volta_core.report.values import as_float, as_text, as_warnings, format_number, is_failed

OUTLIER_SD = 3.0
MIN_SCANS_FOR_SD = 3
HTML_NAME, PDF_NAME = "group_report.html", "group_report.pdf"
#: the plotted measures: column, axis label
PLOTTED = (
    ("hippocampus_left_ml", "left hippocampus (mL)"),
    ("hippocampus_right_ml", "right hippocampus (mL)"),
    ("hoc_left", "HOC left"),
    ("hoc_right", "HOC right"),
)
SEX_STYLE = {"F": ("#d6336c", "o", "female"), "M": ("#1c7ed6", "s", "male"), "?": ("#868e96", "^", "sex unknown")}
_SEX_SPELLINGS = {"m": "M", "male": "M", "man": "M", "1": "M", "f": "F", "female": "F", "woman": "F", "2": "F"}
_TABLE_ROWS_PER_PAGE = 26


@dataclass
class _Scan:
    scan_id: str
    participant: str
    age: float
    sex: str  # "F", "M" or "?"
    group: str
    failed: bool
    error: str
    warnings: list[str]
    values: dict[str, float] = field(default_factory=dict)


@dataclass
class _Outlier:
    scan: _Scan
    reasons: list[str]
    severity: float  # sorting: failed first, then the largest |z|


def write_group_report(out_dir: Path, table: list[dict[str, Any]]) -> tuple[Path, Path]:
    """Write ``out_dir/group_report.html`` (plots inline) and ``out_dir/group_report.pdf``.

    Args:
        out_dir: the output folder (created if missing).
        table: the group ``volumes.tsv`` rows (strings or numbers): ``scan_id``,
            ``participant_id``, ``age``, ``sex``, ``group``, ``hippocampus_left_ml``,
            ``hippocampus_right_ml``, ``hoc_left``, ``hoc_right``, ``icv_ml``, ``qc_warnings``
            (``;``-joined or a list), ``status``, and optionally ``error`` and further ``*_ml``
            volumes. Missing values ("", "n/a", NaN) are allowed everywhere.

    Returns:
        ``(html_path, pdf_path)``.

    Raises:
        VolumeWriteError: a file could not be written.
    """
    scans = [_scan(row) for row in table]
    outliers, notes = find_outliers(scans)
    figures = [_versus_figure(scans, outliers, "icv_ml", "ICV (mL)", "against intracranial volume, by sex"),
               _versus_figure(scans, outliers, "age", "age (years)", "against age, by sex")]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    html_path = write_text_atomically(out_dir / HTML_NAME, _html(scans, outliers, notes, figures))
    pdf_path = write_atomically(out_dir / PDF_NAME, lambda temporary: _pdf(temporary, scans, outliers, notes, figures),
                                suffix=".pdf")
    return html_path, pdf_path


def find_outliers(scans: list[_Scan]) -> tuple[list[_Outlier], list[str]]:
    """The scans to look at again, with why; and notes on measures too sparse for the SD rule."""
    processed = [s for s in scans if not s.failed]
    columns = sorted({key for s in processed for key in s.values}, key=_column_order)
    stats: dict[str, tuple[float, float]] = {}
    notes: list[str] = []
    for column in columns:
        values = np.array([s.values[column] for s in processed if math.isfinite(s.values.get(column, math.nan))])
        if values.size == 0:
            continue
        if values.size < MIN_SCANS_FOR_SD:
            notes.append(f"{_label(column)}: {values.size} value(s), too few for the {OUTLIER_SD:g} SD rule")
            continue
        sd = float(values.std(ddof=1))
        if sd > 0:
            stats[column] = (float(values.mean()), sd)
    outliers = []
    for scan in scans:
        reasons: list[str] = []
        severity = 0.0
        if scan.failed:
            reasons.append("failed" + (f": {scan.error}" if scan.error else ""))
            severity = math.inf
        for column, (mean, sd) in stats.items():
            value = scan.values.get(column, math.nan)
            if scan.failed or not math.isfinite(value):
                continue
            z = (value - mean) / sd
            if abs(z) > OUTLIER_SD:
                reasons.append(f"{_label(column)} {format_number(column, value)} (z = {z:+.1f})")
                severity = max(severity, abs(z))
        reasons += [f"QC: {warning}" for warning in scan.warnings]
        if reasons:
            outliers.append(_Outlier(scan, reasons, severity))
    outliers.sort(key=lambda o: -o.severity)
    return outliers, notes


def _scan(row: dict[str, Any]) -> _Scan:
    values = {key: as_float(value) for key, value in row.items()
              if key.endswith("_ml") or key.startswith("hoc_")}
    sex = _SEX_SPELLINGS.get(as_text(row.get("sex")).lower(), "?")
    return _Scan(scan_id=as_text(row.get("scan_id")) or "(no scan id)",
                 participant=as_text(row.get("participant_id")), age=as_float(row.get("age")), sex=sex,
                 group=as_text(row.get("group")), failed=is_failed(row), error=as_text(row.get("error")),
                 warnings=as_warnings(row.get("qc_warnings", row.get("warnings"))), values=values)


def _column_order(column: str) -> tuple[int, str]:
    plotted = [name for name, _ in PLOTTED]
    return (plotted.index(column) if column in plotted else len(plotted), column)


def _label(column: str) -> str:
    for name, label in PLOTTED:
        if name == column:
            return label.replace(" (mL)", "")
    name = column.lower().replace("inferior_lateral_ventricle", "inferior lateral ventricle")
    words = [word for word in name.split("_") if word and word != "ml"]
    return " ".join(word.upper() if word in ("icv", "hoc") else word for word in words)


def _versus_figure(scans: list[_Scan], outliers: list[_Outlier], x_key: str, x_label: str,
                   title: str) -> Figure:
    """Four panels (hippocampus L/R, HOC L/R) against ``x_key``, one colour and marker per sex."""
    figure = Figure(figsize=(10, 7.6), dpi=100)
    FigureCanvasAgg(figure)
    figure.suptitle(f"Hippocampus and HOC {title}", fontsize=13)
    flagged = {o.scan.scan_id for o in outliers}
    processed = [s for s in scans if not s.failed]
    for ax, (column, label) in zip(figure.subplots(2, 2).ravel(), PLOTTED):
        ax.set_xlabel(x_label)
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
        points = [(s, _x(s, x_key), s.values.get(column, math.nan)) for s in processed]
        points = [(s, x, y) for s, x, y in points if math.isfinite(x) and math.isfinite(y)]
        if not points:
            missing = "age" if x_key == "age" and not any(math.isfinite(s.age) for s in processed) else label
            ax.text(0.5, 0.5, f"no {missing} values", ha="center", va="center", color="#868e96",
                    transform=ax.transAxes)
            continue
        for sex, (colour, marker, name) in SEX_STYLE.items():
            mine = [(x, y) for s, x, y in points if s.sex == sex]
            if not mine:
                continue
            xs, ys = np.array(mine).T
            ax.scatter(xs, ys, c=colour, marker=marker, s=28, alpha=0.85, label=f"{name} (n={len(mine)})")
            if len(mine) >= 3 and np.ptp(xs) > 0:
                slope, intercept = np.polyfit(xs, ys, 1)
                line = np.array([xs.min(), xs.max()])
                ax.plot(line, slope * line + intercept, color=colour, linewidth=1.2, alpha=0.8)
        marked = [(x, y) for s, x, y in points if s.scan_id in flagged]
        if marked:
            xs, ys = np.array(marked).T
            ax.scatter(xs, ys, s=110, facecolors="none", edgecolors="#e8590c", linewidths=1.6,
                       label="listed below")
        ax.legend(fontsize=7, loc="best")
    figure.subplots_adjust(left=0.08, right=0.98, bottom=0.08, top=0.92, hspace=0.3, wspace=0.25)
    return figure


def _x(scan: _Scan, key: str) -> float:
    return scan.age if key == "age" else scan.values.get(key, math.nan)


def _summary_lines(scans: list[_Scan], outliers: list[_Outlier]) -> list[str]:
    failed = sum(s.failed for s in scans)
    warned = sum(bool(s.warnings) for s in scans)
    sexes = {name: sum(s.sex == sex for s in scans) for sex, (_, _, name) in SEX_STYLE.items()}
    ages = [s.age for s in scans if math.isfinite(s.age)]
    age_text = f"age {min(ages):.0f}-{max(ages):.0f} years (n={len(ages)})" if ages else "no ages"
    groups = sorted({s.group for s in scans if s.group})
    lines = [
        f"{len(scans)} scans, {len(scans) - failed} processed, {failed} failed, {warned} with QC warnings",
        ", ".join(f"{n} {name}" for name, n in sexes.items() if n) + f"; {age_text}" if scans else "no scans",
        f"{len(outliers)} scans to look at again (> {OUTLIER_SD:g} SD from the cohort mean on a volume or HOC, "
        "a QC warning, or failed)",
    ]
    if groups:
        lines.insert(2, "groups: " + ", ".join(f"{g} ({sum(s.group == g for s in scans)})" for g in groups))
    return lines


def _png_base64(figure: Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _html(scans: list[_Scan], outliers: list[_Outlier], notes: list[str], figures: list[Figure]) -> str:
    summary = "".join(f"<li>{html.escape(line)}</li>" for line in _summary_lines(scans, outliers))
    notes_html = "".join(f"<li>{html.escape(note)}</li>" for note in notes)
    images = "".join(f'<img alt="plots of volumes and HOC" src="data:image/png;base64,{_png_base64(figure)}">'
                     for figure in figures)
    if outliers:
        rows = "".join(
            f'<tr class="{"failed" if o.scan.failed else ""}"><td>{html.escape(o.scan.scan_id)}</td>'
            f"<td>{html.escape(o.scan.participant)}</td><td>{html.escape(o.scan.sex)}</td>"
            f"<td>{html.escape(_age_text(o.scan.age))}</td><td>{html.escape(o.scan.group)}</td>"
            f"<td><ul>{''.join(f'<li>{html.escape(r)}</li>' for r in o.reasons)}</ul></td></tr>"
            for o in outliers)
        table = ("<table><thead><tr><th>scan</th><th>participant</th><th>sex</th><th>age</th><th>group</th>"
                 f"<th>why</th></tr></thead><tbody>{rows}</tbody></table>")
    else:
        table = "<p>None: no scan failed, none has a QC warning, none is beyond the SD rule.</p>"
    return _PAGE.format(summary=summary, notes=f"<ul class='notes'>{notes_html}</ul>" if notes else "",
                        images=images, table=table, sd=f"{OUTLIER_SD:g}")


def _age_text(age: float) -> str:
    return f"{age:g}" if math.isfinite(age) else ""


def _pdf(path: Path, scans: list[_Scan], outliers: list[_Outlier], notes: list[str], figures: list[Figure]) -> None:
    with PdfPages(path, metadata={"Title": "VolTA-3D group report", "Creator": "VolTA-3D Studio"}) as pdf:
        for figure in figures:
            pdf.savefig(figure)
        chunks = [outliers[i:i + _TABLE_ROWS_PER_PAGE] for i in range(0, len(outliers), _TABLE_ROWS_PER_PAGE)]
        for page, chunk in enumerate(chunks or [[]]):
            pdf.savefig(_table_page(scans, outliers, notes, chunk, first=page == 0))


def _table_page(scans: list[_Scan], outliers: list[_Outlier], notes: list[str], chunk: list[_Outlier],
                *, first: bool) -> Figure:
    figure = Figure(figsize=(8.27, 11.69), dpi=100)  # A4 portrait
    FigureCanvasAgg(figure)
    y = 0.96
    figure.text(0.06, y, "Scans to look at again" + ("" if first else " (continued)"), fontsize=14, weight="bold")
    y -= 0.03
    if first:
        for line in _summary_lines(scans, outliers) + notes:
            for wrapped in textwrap.wrap(line, 100):
                figure.text(0.06, y, wrapped, fontsize=8.5)
                y -= 0.018
        y -= 0.01
    if not chunk:
        figure.text(0.06, y, "None: no scan failed, none has a QC warning, none is beyond the SD rule.", fontsize=9)
        return figure
    cells = [[textwrap.shorten(o.scan.scan_id, 38), o.scan.sex, _age_text(o.scan.age),
              "\n".join(textwrap.shorten(r, 60) for r in o.reasons[:4]) + (" ..." if len(o.reasons) > 4 else "")]
             for o in chunk]
    ax = figure.add_axes((0.04, 0.03, 0.92, y - 0.04))
    ax.axis("off")
    grid = ax.table(cellText=cells, colLabels=["scan", "sex", "age", "why"], colWidths=[0.38, 0.05, 0.06, 0.51],
                    loc="upper left", cellLoc="left")
    grid.auto_set_font_size(False)
    grid.set_fontsize(7)
    for (row, _), cell in grid.get_celld().items():
        lines = 1 if row == 0 else min(4, len(chunk[row - 1].reasons))
        cell.set_height(0.012 + 0.022 * lines)
        if row == 0:
            cell.set_facecolor("#dee2e6")
        elif chunk[row - 1].scan.failed:
            cell.set_facecolor("#ffe3e3")
    return figure


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<title>VolTA-3D group report</title>
<style>
body {{ font: 14px/1.45 system-ui, sans-serif; margin: 24px auto; max-width: 1040px; color: #212529; padding: 0 12px; }}
h1 {{ font-size: 22px; }} h2 {{ font-size: 17px; margin-top: 28px; }}
img {{ width: 100%; max-width: 1000px; display: block; margin: 8px 0 20px; }}
table {{ border-collapse: collapse; width: 100%; font-size: 13px; }}
th, td {{ border: 1px solid #dee2e6; padding: 4px 8px; text-align: left; vertical-align: top; }}
th {{ background: #f1f3f5; }} tr.failed td {{ background: #fff5f5; }}
td ul {{ margin: 0; padding-left: 18px; }} .notes {{ color: #868e96; }} .foot {{ color: #868e96; font-size: 12px; }}
</style>
</head>
<body>
<h1>VolTA-3D group report</h1>
<ul>{summary}</ul>
{notes}
<h2>Volumes and HOC</h2>
{images}
<h2>Scans to look at again</h2>
<p>A scan is listed when it failed, has a QC warning, or lies more than {sd} standard deviations from
the cohort mean (over the processed scans) on a volume or HOC. Circled points in the plots are listed here.</p>
{table}
<p class="foot">For research use only; not for diagnosis. Check the masks in the QC gallery (qc/index.html).</p>
</body>
</html>
"""
