"""One scan's QC picture: axial, coronal and sagittal slices through each hippocampus, with the
outline of every segmented structure in the app's label colours.

Views follow the app's defaults: radiological (the patient's right on the picture's left) in the
axial and coronal panels, anterior on the left in the sagittal panel; every panel carries its
orientation letters, so a reader never has to know the convention.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib import patheffects
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from volta_core.io.atomic import write_atomically
from volta_core.report.colours import label_colour

#: half the field of view around a hippocampus, in mm (a hippocampus is about 45 mm long)
HALF_FIELD_MM = 40.0
NO_HIPPOCAMPUS = "no hippocampus segmented"
_PANEL_INCHES = 2.9
_DPI = 100
_BACKGROUND = "#111111"


@dataclass(frozen=True)
class _Plane:
    """A view: the axis it cuts (``normal``) and the RAS axes shown across (``u``) and up (``v``)."""

    name: str
    normal: int
    u: int
    v: int
    u_flipped: bool  # u grows to the left on the picture
    letters: tuple[str, str, str, str]  # left, right, top, bottom edges


_PLANES = (
    _Plane("axial", normal=2, u=0, v=1, u_flipped=True, letters=("R", "L", "A", "P")),
    _Plane("coronal", normal=1, u=0, v=2, u_flipped=True, letters=("R", "L", "S", "I")),
    _Plane("sagittal", normal=0, u=1, v=2, u_flipped=True, letters=("A", "P", "S", "I")),
)


def write_scan_qc(image: np.ndarray, labels: np.ndarray, zooms: tuple[float, float, float], out_png: Path,
                  label_names: dict[int, str]) -> Path:
    """Draw the QC picture of one scan and write it atomically as a PNG.

    Args:
        image: ``(X, Y, Z)`` intensities on the scan's own grid in RAS-canonical voxel order
            (axis 0 towards the patient's right, 1 anterior, 2 superior).
        labels: ``(X, Y, Z)`` integer label map on the same grid (0 = background).
        zooms: voxel size along each axis in mm.
        out_png: where to write; its folder is created if missing.
        label_names: name of each label value (``label_names_for``: "left hippocampus", ...; keys
            may be ints or digit strings);
            labels whose name contains "hippocampus" get a row of three views each, every label
            present gets an outline.

    Returns:
        ``out_png``. With no hippocampus in ``labels`` the picture goes through the volume's
        centre and says "no hippocampus segmented".

    Raises:
        ValueError: the arrays are not 3D, differ in shape, or ``zooms`` are not 3 positive sizes.
        VolumeWriteError: the file could not be written (read-only folder, full disk).
    """
    image = np.asarray(image)
    labels = np.asarray(labels)
    if image.ndim != 3 or labels.shape != image.shape:
        raise ValueError(f"write_scan_qc needs a 3D image and a label map of the same shape, got "
                         f"{image.shape} and {labels.shape}")
    spacing = np.asarray(zooms, dtype=np.float64)
    if spacing.shape != (3,) or not np.all(np.isfinite(spacing)) or np.any(spacing <= 0):
        raise ValueError(f"zooms must be three positive voxel sizes in mm, got {tuple(zooms)}")
    labels = labels.astype(np.int64, copy=False)
    present = [int(v) for v in np.unique(labels) if v != 0]
    known = {int(k): str(v) for k, v in label_names.items()}  # keys may come as "1" from JSON
    names = {v: known.get(v, f"label {v}") for v in present}
    colours = {v: label_colour(v, names[v]) for v in present}
    hippocampi = [v for v in present if "hippocampus" in names[v].lower()]
    window = _intensity_window(image)

    rows: list[tuple[str, np.ndarray]] = []
    for value in hippocampi:
        rows.append((names[value], np.argwhere(labels == value).mean(axis=0)))
    half_field_mm: float | None = HALF_FIELD_MM
    if not rows:  # the whole head through its centre: what went wrong is easier to see
        rows.append(("", (np.asarray(image.shape, dtype=np.float64) - 1) / 2))
        half_field_mm = None

    figure = Figure(figsize=(3 * _PANEL_INCHES, len(rows) * _PANEL_INCHES + 0.55), dpi=_DPI,
                    facecolor=_BACKGROUND)
    FigureCanvasAgg(figure)  # Agg, set on this figure only: no display, no global backend change
    axes = figure.subplots(len(rows), 3, squeeze=False)
    for row, (caption, centre) in enumerate(rows):
        point = np.clip(np.round(centre).astype(int), 0, np.asarray(image.shape) - 1)
        for column, plane in enumerate(_PLANES):
            _draw_panel(axes[row, column], plane, image, labels, spacing, point, window, colours,
                        half_field_mm)
        axes[row, 0].set_ylabel(caption, color="white", fontsize=10)
    if present:
        handles = [Line2D([], [], color=colours[v], linewidth=2.5, label=names[v]) for v in present]
        figure.legend(handles=handles, loc="lower center", ncol=min(len(handles), 3), fontsize=8,
                      frameon=False, labelcolor="white")
    else:
        figure.text(0.5, 0.015, "no labels in the segmentation", color="#ffb347", ha="center", fontsize=9)
    if not hippocampi:
        figure.suptitle(NO_HIPPOCAMPUS, color="#ffb347", fontsize=12)
    figure.subplots_adjust(left=0.04, right=0.995, top=0.995 - (0.07 if not hippocampi else 0.0),
                           bottom=0.5 / (len(rows) * _PANEL_INCHES + 0.55), wspace=0.02, hspace=0.06)

    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(out_png, lambda temporary: figure.savefig(temporary, format="png",
                                                                facecolor=_BACKGROUND),
                     suffix=".png")
    return out_png


def _intensity_window(image: np.ndarray) -> tuple[float, float]:
    """Display range: 0.5th-99.5th percentile of the non-zero voxels (a subsample: fast on 256³)."""
    step = max(1, round((image.size / 2_000_000) ** (1 / 3)))
    sample = np.asarray(image[::step, ::step, ::step], dtype=np.float64).ravel()
    sample = sample[np.isfinite(sample)]
    foreground = sample[sample != 0]
    values = foreground if foreground.size else sample
    if values.size == 0:
        return 0.0, 1.0
    low, high = np.percentile(values, [0.5, 99.5])
    if not high > low:
        low, high = float(values.min()), float(values.max())
    return float(low), float(high if high > low else low + 1.0)


def _draw_panel(ax, plane: _Plane, image: np.ndarray, labels: np.ndarray, spacing: np.ndarray,
                point: np.ndarray, window: tuple[float, float], colours: dict[int, tuple[float, float, float]],
                half_field_mm: float | None) -> None:
    """One view through ``point`` (voxel index), cropped to ``half_field_mm`` around it (None: all)."""
    where: list[int | slice] = [slice(None)] * 3
    where[plane.normal] = int(point[plane.normal])
    bounds = []
    for axis in (plane.u, plane.v):
        half = image.shape[axis] if half_field_mm is None else int(np.ceil(half_field_mm / spacing[axis]))
        bounds.append((max(0, int(point[axis]) - half), min(image.shape[axis], int(point[axis]) + half + 1)))
    (u0, u1), (v0, v1) = bounds
    where[plane.u], where[plane.v] = slice(u0, u1), slice(v0, v1)
    # after fixing the normal the remaining axes stay in x, y, z order; u < v in every plane
    picture = np.nan_to_num(np.asarray(image[tuple(where)], dtype=np.float32)).T  # (V, U)
    cut = labels[tuple(where)].T  # (V, U)
    su, sv = spacing[plane.u], spacing[plane.v]
    extent = ((u0 - 0.5) * su, (u1 - 0.5) * su, (v0 - 0.5) * sv, (v1 - 0.5) * sv)
    ax.imshow(picture, cmap="gray", vmin=window[0], vmax=window[1], origin="lower", extent=extent,
              interpolation="nearest", aspect="equal")
    u_mm, v_mm = np.arange(u0, u1) * su, np.arange(v0, v1) * sv
    for value, colour in colours.items():
        inside = cut == value
        if inside.any() and not inside.all() and min(inside.shape) > 1:
            ax.contour(u_mm, v_mm, inside.astype(np.float32), levels=[0.5], colors=[colour], linewidths=1.3)
        elif inside.any():  # one row or column of voxels: contour cannot outline it, mark the voxels
            rows_, cols_ = np.nonzero(inside)
            ax.plot(u_mm[cols_], v_mm[rows_], "s", color=colour, markersize=2)
    ax.set_xlim(extent[1], extent[0]) if plane.u_flipped else ax.set_xlim(extent[0], extent[1])
    ax.set_ylim(extent[2], extent[3])
    ax.set_facecolor("black")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    left, right, top, bottom = plane.letters
    outline = [patheffects.withStroke(linewidth=2.5, foreground="black")]
    style = {"color": "#ffe066", "fontsize": 10, "fontweight": "bold", "transform": ax.transAxes,
             "path_effects": outline}
    ax.text(0.02, 0.5, left, ha="left", va="center", **style)
    ax.text(0.98, 0.5, right, ha="right", va="center", **style)
    ax.text(0.5, 0.98, top, ha="center", va="top", **style)
    ax.text(0.5, 0.02, bottom, ha="center", va="bottom", **style)
    index = int(point[plane.normal])
    ax.text(0.02, 0.02, f"{plane.name} {index}", color="#dddddd", fontsize=7, ha="left", va="bottom",
            transform=ax.transAxes, path_effects=outline)
