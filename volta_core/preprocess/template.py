"""The registration template shipped in ``resources/templates/`` (built by scripts/make_template.py)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

from volta_core.contracts.resources import resources_root
from volta_core.io.volume import Volume
from volta_core.preprocess.resample import resample_array

#: Override the template folder (e.g. in a frozen app bundle) with this environment variable.
TEMPLATE_DIR_ENV = "VOLTA_TEMPLATE_DIR"


def default_template_dir() -> Path:
    """``$VOLTA_TEMPLATE_DIR`` if set, else ``resources/templates`` (in a checkout or a bundle)."""
    env = os.environ.get(TEMPLATE_DIR_ENV)
    if env:
        return Path(env)
    return resources_root() / "templates"


@dataclass(frozen=True)
class RegionOfInterest:
    """An axis-aligned box in template space (mm).

    Attributes:
        name: e.g. ``"hippocampus"``.
        min_mm: lower corner (RAS mm).
        max_mm: upper corner (RAS mm).
    """

    name: str
    min_mm: tuple[float, float, float]
    max_mm: tuple[float, float, float]

    @property
    def center_mm(self) -> np.ndarray:
        return (np.asarray(self.min_mm) + np.asarray(self.max_mm)) / 2.0

    @property
    def size_mm(self) -> np.ndarray:
        return np.asarray(self.max_mm) - np.asarray(self.min_mm)


@dataclass(frozen=True)
class Template:
    """A T1 template with its brain mask and regions of interest, all in template space.

    Attributes:
        name: template name.
        image: T1 intensities (skull-stripped if ``skull_stripped``).
        mask: brain mask on the same grid (uint8 0/1).
        brain_center_mm: centre of the brain bounding box (RAS mm).
        rois: named regions of interest.
        skull_stripped: whether ``image`` has had the skull removed.
        metadata: the content of ``template.json``.
    """

    name: str
    image: Volume
    mask: Volume
    brain_center_mm: tuple[float, float, float]
    rois: dict[str, RegionOfInterest] = field(default_factory=dict)
    skull_stripped: bool = True
    metadata: dict[str, Any] = field(default_factory=dict)

    def roi(self, name: str) -> RegionOfInterest:
        """A region of interest by name.

        Raises:
            KeyError: with the list of known names.
        """
        try:
            return self.rois[name]
        except KeyError:
            raise KeyError(f"unknown region of interest {name!r}; known: {sorted(self.rois)}") from None

    def brain_on_grid(self, shape: tuple[int, ...], affine: np.ndarray) -> np.ndarray:
        """The brain mask (bool) on a grid of ``shape`` whose voxel -> template mm map is ``affine``."""
        to_mask = np.linalg.inv(self.mask.affine) @ np.asarray(affine, dtype=np.float64)
        return resample_array(self.mask.data, tuple(int(s) for s in shape), to_mask, order=0) > 0


def _read_nifti(path: Path) -> Volume:
    image = nib.load(str(path))
    return Volume(np.asarray(image.dataobj), image.affine, {"format": "nifti"}, path)


@lru_cache(maxsize=4)
def _load_cached(directory: str) -> Template:
    folder = Path(directory)
    meta_path = folder / "template.json"
    if not meta_path.is_file():
        raise FileNotFoundError(
            f"no template in {folder}: run `.venv/bin/python scripts/make_template.py` "
            f"or set {TEMPLATE_DIR_ENV}"
        )
    meta = json.loads(meta_path.read_text())
    rois: dict[str, RegionOfInterest] = {}
    for roi_file in sorted(folder.glob("*_roi.json")):
        roi = json.loads(roi_file.read_text())
        rois[roi["name"]] = RegionOfInterest(roi["name"], tuple(roi["min_mm"]), tuple(roi["max_mm"]))
    return Template(
        name=meta["name"],
        image=_read_nifti(folder / meta["t1"]),
        mask=_read_nifti(folder / meta["mask"]),
        brain_center_mm=tuple(meta["brain_center_mm"]),  # type: ignore[arg-type]
        rois=rois,
        skull_stripped=bool(meta.get("skull_stripped", True)),
        metadata=meta,
    )


def load_template(directory: str | Path | None = None) -> Template:
    """Load (once per folder, then cached) the template from ``directory``.

    Args:
        directory: folder with ``template.json``; defaults to :func:`default_template_dir`.

    Raises:
        FileNotFoundError: when the folder holds no template.
    """
    return _load_cached(str(Path(directory or default_template_dir()).resolve()))
