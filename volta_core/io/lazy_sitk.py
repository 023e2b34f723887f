"""SimpleITK, imported on first use.

Reading a NIfTI or MGZ file needs only nibabel; SimpleITK (a few hundred ms to import) is loaded
the first time a DICOM, NRRD or MHA file is read. ``volta predict`` as a BIDS App relies on this to
read its first scan within its start-up budget while torch and SimpleITK load in the background.
"""

from __future__ import annotations

import importlib
from typing import Any


class _LazySimpleITK:
    """Stands for the ``SimpleITK`` module: every attribute comes from it, imported on first access."""

    def __getattr__(self, name: str) -> Any:
        return getattr(importlib.import_module("SimpleITK"), name)


sitk: Any = _LazySimpleITK()
