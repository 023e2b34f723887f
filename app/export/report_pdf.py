"""The one-page (or two-page) PDF report of a prediction, with reportlab (no Qt, runs in a worker)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from app.state.results import RESEARCH_LINE, ResultRows


@dataclass(frozen=True)
class ReportContent:
    """Everything the report shows; ``patient`` is empty unless the user chose to include it."""

    scan: str
    rows: ResultRows
    images: dict[str, Path]  # view name -> PNG (axial, coronal, sagittal, 3d)
    comparisons: list[tuple[str, str]] = field(default_factory=list)
    patient: dict[str, str] = field(default_factory=dict)
    edited: bool = False
    created: str = field(default_factory=lambda: datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"))


def write_report(path: Path, content: ReportContent) -> Path:
    """Write the PDF to ``path`` (via a temporary file, so a failure leaves no half file)."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.platypus import (
        Image,
        KeepTogether,
        Paragraph,
        SimpleDocTemplate,
        Spacer,
        Table,
    )

    styles = getSampleStyleSheet()
    story: list = [Paragraph("VolTA-3D Studio - hippocampus segmentation report", styles["Title"]),
                   Paragraph(f"<b>{RESEARCH_LINE}</b>", styles["Normal"]), Spacer(1, 4 * mm)]
    facts = [["Scan", content.scan], ["Date", content.created], ["Model", content.rows.model]]
    facts += [[f"Patient {k}", v] for k, v in content.patient.items()]
    if content.edited:
        facts.append(["Mask", "manually corrected after prediction"])
    story.append(_table(facts, [35 * mm, 135 * mm], colors))
    story.append(Spacer(1, 4 * mm))
    cell_w = 85 * mm
    cells = []
    for name in ("axial", "coronal", "sagittal", "3d"):
        image = content.images.get(name)
        if image is not None and Path(image).is_file():
            cells.append([Image(str(image), width=cell_w, height=cell_w * 0.75, kind="proportional"),
                          Paragraph(name.capitalize() if name != "3d" else "3D", styles["Italic"])])
    grid = [[cells[i] if i < len(cells) else "", cells[i + 1] if i + 1 < len(cells) else ""]
            for i in range(0, len(cells), 2)]
    if grid:
        story.append(Table(grid, colWidths=[cell_w + 2 * mm] * 2))
    # each heading is kept on the page of its table (and the warnings with their heading)
    sections = [("Volumes", content.rows.measures), ("Classification", content.rows.classification)]
    if content.comparisons:
        sections.append(("Agreement (Dice)", content.comparisons))
    sections.append(("Quality", content.rows.quality))
    for title, rows in sections:
        if not rows:
            continue  # reportlab refuses an empty table
        story.append(KeepTogether([Paragraph(title, styles["Heading2"]),
                                   _table([list(r) for r in rows], [55 * mm, 115 * mm], colors)]))
    warnings = content.rows.warnings or ["none"]
    story.append(KeepTogether([Paragraph("Quality warnings", styles["Heading2"])]
                              + [Paragraph(f"&#9888; {w}" if w != "none" else "none", styles["Normal"])
                                 for w in warnings]))
    story.append(Spacer(1, 5 * mm))
    story.append(Paragraph(content.rows.caveat, styles["Normal"]))
    story.append(Paragraph(f"<b>{RESEARCH_LINE}</b>", styles["Normal"]))
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    doc = SimpleDocTemplate(str(tmp), pagesize=A4, leftMargin=18 * mm, rightMargin=18 * mm, topMargin=15 * mm,
                            bottomMargin=15 * mm, title="VolTA-3D Studio report", author="VolTA-3D Studio")
    try:
        doc.build(story)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _table(rows: list[list[str]], widths: list[float], colors):
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import Paragraph, Table, TableStyle

    normal = getSampleStyleSheet()["BodyText"]
    table = Table([[Paragraph(f"<b>{a}</b>", normal), Paragraph(str(b).replace("\n", "<br/>"), normal)]
                   for a, b in rows], colWidths=widths)
    table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
                               ("BACKGROUND", (0, 0), (0, -1), colors.whitesmoke),
                               ("VALIGN", (0, 0), (-1, -1), "TOP")]))
    return table
