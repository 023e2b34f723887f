"""The group report: outliers found by the 3 SD rule, QC warnings and failures; HTML with inline
plots and a PDF, written for real and read back."""

from __future__ import annotations

import base64
import io
import math
import re
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from volta_core.report.group_report import write_group_report


def _cohort(n: int = 30) -> list[dict]:
    """Volumes spread evenly (none beyond 3 SD by itself), as strings like volumes.tsv gives them."""
    rows = []
    for i in range(n):
        t = i / max(n - 1, 1) - 0.5
        rows.append({
            "scan_id": f"sub-{i:02d}_T1w", "participant_id": f"sub-{i:02d}", "age": f"{60 + 20 * t + 10:.0f}",
            "sex": "FM"[i % 2], "group": "CN", "hippocampus_left_ml": f"{3.0 + 0.4 * t:.4f}",
            "hippocampus_right_ml": f"{3.1 - 0.4 * t:.4f}", "hoc_left": f"{0.85 + 0.05 * t:.4f}",
            "hoc_right": f"{0.86 - 0.05 * t:.4f}", "icv_ml": f"{1500 + 200 * t:.1f}", "qc_warnings": "",
            "status": "ok", "error": ""})
    return rows


def _images(html: str) -> list[np.ndarray]:
    return [imread(io.BytesIO(base64.b64decode(data)), format="png")
            for data in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)]


def _pdf_pages(pdf: Path) -> int:
    return len(re.findall(rb"/Type\s*/Page\b(?!s)", pdf.read_bytes()))


def test_outliers_warnings_and_failures_are_listed_and_no_one_else(tmp_path: Path) -> None:
    rows = _cohort()
    rows[4]["hippocampus_left_ml"] = "1.2"  # far below everyone
    rows[9]["hoc_right"] = 0.2  # numbers work too
    rows[12]["qc_warnings"] = "low contrast; thick slices"
    rows[20].update(status="failed", error="corrupt file <gz>", hippocampus_left_ml="", icv_ml="n/a")
    html_path, pdf_path = write_group_report(tmp_path / "out", rows)
    assert (html_path, pdf_path) == (tmp_path / "out" / "group_report.html", tmp_path / "out" / "group_report.pdf")
    html = html_path.read_text(encoding="utf-8")
    table = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    listed = re.findall(r"<tr[^>]*><td>([^<]+)</td>", table)
    assert listed == ["sub-20_T1w", "sub-09_T1w", "sub-04_T1w", "sub-12_T1w"]  # failed first, then by |z|
    assert "left hippocampus 1.20 mL (z = -" in table and "HOC right 0.20 (z = -" in table
    assert "QC: low contrast" in table and "QC: thick slices" in table
    assert "failed: corrupt file &lt;gz&gt;" in table
    images = _images(html)
    assert len(images) == 2 and all(image.shape[0] > 500 and image.shape[1] > 800 for image in images)
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert pdf_path.read_bytes().startswith(b"%PDF") and _pdf_pages(pdf_path) == 3  # 2 plot pages + table


def test_sexes_are_told_apart_in_the_plots(tmp_path: Path) -> None:
    rows = _cohort(12)
    html = write_group_report(tmp_path, rows)[0].read_text(encoding="utf-8")
    icv_plot = _images(html)[0][..., :3]
    for colour in ("#d6336c", "#1c7ed6"):  # female, male
        rgb = 0.85 * np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)]) / 255 + 0.15  # alpha 0.85 on white
        assert np.all(np.abs(icv_plot - rgb) < 0.03, axis=-1).sum() > 100, colour
    assert "6 female, 6 male" in html


@pytest.mark.parametrize("size", [0, 2])
def test_tiny_cohorts_give_a_report_that_says_the_rule_needs_more_scans(tmp_path: Path, size: int) -> None:
    html_path, pdf_path = write_group_report(tmp_path, _cohort(size))
    html = html_path.read_text(encoding="utf-8")
    assert f"{size} scans" in html and _pdf_pages(pdf_path) == 3
    if size:
        assert "too few for the 3 SD rule" in html
    assert "None: no scan failed" in html


def test_missing_age_sex_hoc_and_columns_are_tolerated(tmp_path: Path) -> None:
    rows = _cohort(8)
    for row in rows:
        row.update(age="n/a", sex="", hoc_left=math.nan)
        del row["hoc_right"], row["group"]
    rows[0]["sex"] = "female"
    rows[1].pop("participant_id")
    html = write_group_report(tmp_path, rows)[0].read_text(encoding="utf-8")
    assert "no ages" in html and "1 female, 7 sex unknown" in html
    assert len(_images(html)) == 2


def test_all_failed_is_a_report_not_a_crash(tmp_path: Path) -> None:
    rows = [{"scan_id": f"s{i}", "status": "failed", "error": "unreadable"} for i in range(3)]
    html = write_group_report(tmp_path, rows)[0].read_text(encoding="utf-8")
    assert html.count("failed: unreadable") == 3
