"""What to load: a path plus the answers to the questions a reader may ask (Qt-free)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal


@dataclass(frozen=True)
class LoadRequest:
    """Arguments of one ``load_volume`` call; ``fine_grid``: then cut voxels down to about 1 mm
    (``volta_core.preprocess.subdivide_grid``, for thick-slice scans)."""

    path: Path
    series_uid: str | None = None
    volume_index: int | None = None
    nonfinite: Literal["error", "zero"] = "error"
    fine_grid: bool = False

    def with_answer(self, **answer: object) -> LoadRequest:
        """The same request with one more answer (e.g. ``series_uid=...``)."""
        return replace(self, **answer)  # type: ignore[arg-type]


def display_name(path: Path) -> str:
    """A short name for a scan: the file name, or the folder name for a DICOM series."""
    return path.name or str(path)


#: what the name of a scan opened with ``fine_grid`` ends with
FINE_GRID_SUFFIX = " (1 mm grid)"
