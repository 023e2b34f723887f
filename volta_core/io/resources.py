"""Locating bundled files (``resources/``) in a source checkout and in a PyInstaller bundle."""

from __future__ import annotations

from pathlib import Path

from volta_core.contracts.resources import resources_root
from volta_core.io.errors import FileAccessError

SAMPLE_SCAN = "sample/fsaverage_T1.mgz"


def resource_path(relative: str | Path) -> Path:
    """Absolute path of a bundled resource, e.g. ``resource_path("licenses/FreeSurfer-LICENSE.txt")``.

    The path is returned whether or not the file exists.

    Raises:
        ValueError: ``relative`` is absolute or climbs out of ``resources`` with ``..``.
    """
    relative = Path(relative)
    if relative.is_absolute() or ".." in relative.parts:
        raise ValueError(f"resource paths are relative to resources/, got {relative}")
    return resources_root() / relative


def sample_scan_path() -> Path:
    """The bundled sample T1 scan (FreeSurfer fsaverage ``orig.mgz``, 256^3, 1 mm, LIA).

    Raises:
        FileAccessError: the sample is not there (source checkout without the generated file).
    """
    path = resource_path(SAMPLE_SCAN)
    if not path.is_file():
        raise FileAccessError(f"The sample scan is missing: '{path}'.", path=path,
                              hint="Create it with `python scripts/make_sample_scan.py` (needs the 'recipe' extra).")
    return path
