"""The cohort's QC gallery: one static HTML file that opens offline, and the marks it exports.

A reviewer looks at every scan's QC picture, marks it pass or fail with a note (kept in the
browser's local storage, under a key made of the gallery's title and scan ids, so two galleries
never share marks), and exports the marks as ``qc_marks.tsv``; :func:`read_marks` reads them back
for ``volta predict ... group``.
"""

from __future__ import annotations

import hashlib
import html
import json
import math
import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

from volta_core.io.atomic import write_text_atomically
from volta_core.report.gallery_assets import CSS, JS
from volta_core.report.values import as_float, as_text, as_warnings, format_number, is_failed

MARKS_FILE = "qc_marks.tsv"
MARKS_COLUMNS = ("scan_id", "qc_rating", "qc_note")
RATINGS = ("pass", "fail")
#: row keys that are not numbers to show on the card
_NOT_SHOWN = frozenset({"scan_id", "png", "status", "warnings", "qc_warnings", "error", "participant_id",
                        "session_id", "source", "model", "device", "qc_rating", "qc_note", "sex", "group",
                        "seconds", "record"})


def storage_key(title: str, scan_ids: list[str]) -> str:
    """The browser-storage key of a gallery's marks: the same title and scans find the same marks."""
    digest = hashlib.sha256("\n".join([title, *scan_ids]).encode("utf-8")).hexdigest()[:20]
    return f"volta-qc-marks:{digest}"


def write_gallery(out_html: Path, rows: list[dict[str, Any]], *, title: str) -> Path:
    """Write the gallery page (inline CSS and script, no network) atomically.

    Args:
        out_html: the page to write; its folder is created if missing.
        rows: one dict per scan, in display order, with ``scan_id`` (str), ``png`` (the QC picture,
            relative to ``out_html``'s folder; may be empty for a failed scan), ``status``
            (``"ok"`` or ``"failed"``), ``warnings`` (list of str, or one ``;``-joined string),
            optionally ``error`` (why a scan failed) and any numeric fields to show (volumes in
            mL, HOC, ICV ...).
        title: the page's title; also part of the key its marks are stored under.

    Returns:
        ``out_html``.

    Raises:
        ValueError: a row has no ``scan_id``, or two rows have the same one.
        VolumeWriteError: the page could not be written.
    """
    scan_ids: list[str] = []
    for number, row in enumerate(rows, start=1):
        scan_id = as_text(row.get("scan_id"))
        if not scan_id:
            raise ValueError(f"gallery row {number} has no scan_id")
        if scan_id in scan_ids:
            raise ValueError(f"scan '{scan_id}' appears twice in the gallery rows")
        scan_ids.append(scan_id)
    config = {"storageKey": storage_key(title, scan_ids), "title": title}
    out_html = Path(out_html)
    cards = "\n".join(_card(number, scan_id, row, out_html.parent)
                      for number, (scan_id, row) in enumerate(zip(scan_ids, rows)))
    page = _PAGE.format(
        title=html.escape(title),
        css=CSS,
        js=JS,
        config=_script_json(config),
        cards=cards or "",
        marks_file=MARKS_FILE,
    )
    out_html.parent.mkdir(parents=True, exist_ok=True)
    return write_text_atomically(out_html, page)


def read_marks(tsv: Path) -> dict[str, dict[str, str]]:
    """Read a ``qc_marks.tsv`` exported by the gallery (or written by hand).

    Columns are found by name (``scan_id``, ``qc_rating``, optional ``qc_note``; others ignored).
    CRLF line ends, a byte-order mark, blank lines and a missing trailing note are accepted.

    Returns:
        ``{scan_id: {"qc_rating": "pass" | "fail", "qc_note": str}}``.

    Raises:
        ValueError: the file is not UTF-8 text, lacks the header, or a row has no scan id, a
            rating other than pass/fail, too many cells, or repeats a scan; the message names
            the file and line.
    """
    tsv = Path(tsv)
    try:
        text = tsv.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{tsv}: not a UTF-8 text file ({exc.reason} at byte {exc.start}); "
                         f"export the marks again from the gallery") from exc
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise ValueError(f"{tsv}: empty file; expected the header "
                         f"'{chr(9).join(MARKS_COLUMNS)}' (tab-separated)")
    header = [cell.strip().lower() for cell in lines[0].split("\t")]
    missing = [column for column in MARKS_COLUMNS[:2] if column not in header]
    if missing:
        raise ValueError(f"{tsv}: the header {lines[0]!r} lacks {', '.join(missing)}; expected the "
                         f"tab-separated columns {', '.join(MARKS_COLUMNS)}")
    position = {column: header.index(column) for column in MARKS_COLUMNS if column in header}
    marks: dict[str, dict[str, str]] = {}
    first_line: dict[str, int] = {}
    for line_number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        cells = line.split("\t")
        if len(cells) > len(header):
            raise ValueError(f"{tsv}, line {line_number}: {len(cells)} cells but the header has "
                             f"{len(header)} (is there a tab inside a note?)")
        cells += [""] * (len(header) - len(cells))
        scan_id = cells[position["scan_id"]].strip()
        if not scan_id:
            raise ValueError(f"{tsv}, line {line_number}: no scan_id")
        rating = cells[position["qc_rating"]].strip().lower()
        if rating not in RATINGS:
            raise ValueError(f"{tsv}, line {line_number}: qc_rating of '{scan_id}' is "
                             f"{cells[position['qc_rating']]!r}; it must be 'pass' or 'fail'")
        if scan_id in marks:
            raise ValueError(f"{tsv}, line {line_number}: '{scan_id}' is already marked on line "
                             f"{first_line[scan_id]}")
        note = cells[position["qc_note"]].strip() if "qc_note" in position else ""
        marks[scan_id] = {"qc_rating": rating, "qc_note": note}
        first_line[scan_id] = line_number
    return marks


def _png_size(path: Path) -> tuple[int, int] | None:
    """``(width, height)`` from a PNG's header, or None (missing or not a PNG)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(24)
    except OSError:
        return None
    if len(head) < 24 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def _card(number: int, scan_id: str, row: dict[str, Any], folder: Path) -> str:
    failed = is_failed(row)
    warnings = as_warnings(row.get("warnings", row.get("qc_warnings")))
    classes = ["card"] + (["failed"] if failed else []) + (["has-warnings"] if warnings else [])
    badges = []
    if failed:
        badges.append('<span class="badge failed">failed</span>')
    if warnings:
        badges.append(f'<span class="badge warn">{len(warnings)} warning{"s" if len(warnings) > 1 else ""}</span>')
    badges.append('<span class="badge rating"></span>')
    png = as_text(row.get("png"))
    if png:
        source = html.escape(quote(png.replace("\\", "/"), safe="/:@-._~"), quote=True)
        size = _png_size(Path(os.path.normpath(folder / png)))  # known size: lazy loading does not move the cards under the mouse
        dimensions = f' width="{size[0]}" height="{size[1]}"' if size else ""
        picture = (f'<a class="thumb" href="{source}" target="_blank" rel="noopener">'
                   f'<img src="{source}"{dimensions} alt="QC picture of {html.escape(scan_id)}" loading="lazy"></a>')
    else:
        picture = f'<div class="noimg">{"failed: no QC picture" if failed else "no QC picture"}</div>'
    numbers = "".join(f"<dt>{html.escape(_short_name(key))}</dt><dd>{html.escape(text)}</dd>"
                      for key, text in _numbers(row))
    error = as_text(row.get("error"))
    parts = [
        f'<h2><span class="sid">{html.escape(scan_id)}</span>{"".join(badges)}</h2>',
        picture,
        f'<dl class="numbers">{numbers}</dl>' if numbers else "",
        ('<ul class="warnings">' + "".join(f"<li>{html.escape(w)}</li>" for w in warnings) + "</ul>")
        if warnings else "",
        f'<p class="error">{html.escape(error)}</p>' if error else "",
        '<div class="marks"><button type="button" class="rate pass" data-rating="pass" aria-pressed="false" '
        'title="pass (key p; click again to undo)">Pass</button><button type="button" class="rate fail" '
        'data-rating="fail" aria-pressed="false" title="fail (key f; click again to undo)">Fail</button></div>',
        f'<textarea class="note" rows="1" placeholder="note (key n)" '
        f'aria-label="note on {html.escape(scan_id)}"></textarea>',
    ]
    return (f'<article class="{" ".join(classes)}" id="scan-{number}" data-scan="{html.escape(scan_id, quote=True)}" '
            f'data-rating="">' + "".join(parts) + "</article>")


def _numbers(row: dict[str, Any]) -> list[tuple[str, str]]:
    """``(key, display text)`` of every numeric field of a row (NaN shown as n/a)."""
    shown = []
    for key, value in row.items():
        if key in _NOT_SHOWN or isinstance(value, (list, tuple, dict, bool)):
            continue
        number = as_float(value)
        if isinstance(value, (int, float)) or math.isfinite(number):
            shown.append((key, format_number(key, number)))
    return shown


def _short_name(key: str) -> str:
    """``hippocampus_left_ml`` -> ``hippocampus left``, ``icv_ml`` -> ``ICV``, ``hoc_left`` -> ``HOC left``."""
    name = key.lower().replace("inferior_lateral_ventricle", "inf. lat. ventricle")
    words = [word for word in name.split("_") if word and word != "ml"]
    return " ".join(word.upper() if word in ("icv", "hoc") else word for word in words)


def _script_json(data: Any) -> str:
    """JSON safe inside ``<script>``: ``<``, ``>`` and ``&`` escaped so no text can end the block."""
    text = json.dumps(data, ensure_ascii=True)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src 'self' data: file:; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<title>{title}</title>
<style>{css}</style>
</head>
<body>
<header class="top">
<h1>{title}</h1>
<span class="summary" id="summary"></span>
<span class="filters" role="group" aria-label="show">
<button type="button" data-filter="all" aria-pressed="true">All</button>
<button type="button" data-filter="unreviewed" aria-pressed="false">Unreviewed</button>
<button type="button" data-filter="failed" aria-pressed="false" title="failed to process, or marked fail">Failed</button>
<button type="button" data-filter="warnings" aria-pressed="false">Warnings</button>
</span>
<span class="tools"><button type="button" class="export" id="export" title="download {marks_file}">Export marks</button>
<span class="summary" id="exported"></span></span>
<p class="help">Keys: <kbd>j</kbd> next, <kbd>k</kbd> previous, <kbd>p</kbd> pass, <kbd>f</kbd> fail,
<kbd>n</kbd> note (<kbd>Esc</kbd> leaves it). Marks stay in this browser; <b>Export marks</b> saves
them as {marks_file} for <code>volta predict BIDS_DIR OUT_DIR group</code>.</p>
<p class="notice" id="notice"></p>
</header>
<main id="cards">
{cards}
</main>
<p class="empty" id="empty" hidden>No scan matches this filter.</p>
<script type="application/json" id="gallery-config">{config}</script>
<script>{js}</script>
</body>
</html>
"""
