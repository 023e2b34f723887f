"""The loaded scan: the original ``Volume``, its RAS-aligned display copy and its statistics."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from app.state.display_grid import DisplayIndex, display_index
from app.state.image_stats import ImageStats
from app.state.signal import Signal

if TYPE_CHECKING:  # volta_core.io pulls in nibabel, scipy and SimpleITK: not at start-up
    from volta_core.io import Volume

_MAPPING_LOCK = threading.Lock()


@dataclass(frozen=True)
class VoxelSample:
    """What the status bar shows for a world position."""

    world: tuple[float, float, float]
    index: tuple[int, int, int] | None  # storage index in the ORIGINAL scan, None if outside
    value: float | None


@dataclass(frozen=True)
class ImageLayer:
    """One opened scan.

    Args:
        volume: the scan as read, in its own storage order (indices shown to the user).
        display: the same image on a RAS-aligned grid (``canonical_ras``): axis 0 points Right,
            axis 1 Anterior, axis 2 Superior, with a diagonal affine. Views slice this one.
        stats: intensity statistics for the window/level presets.
        name: what the title bar and info panel call the scan.
    """

    volume: Volume
    display: Volume
    stats: ImageStats
    name: str

    def __post_init__(self) -> None:
        linear = self.display.affine[:3, :3]
        off_diagonal = linear - np.diag(np.diag(linear))
        # canonical_ras keeps sub-0.1-degree tilts of "non-oblique" scans: tolerate those.
        if np.abs(off_diagonal).max() > 2e-3 * np.abs(linear).max() or np.any(np.diag(linear) <= 0):
            raise ValueError("the display volume must be on a RAS-aligned grid (canonical_ras)")

    @property
    def display_mapping(self) -> DisplayIndex:
        """Which scan voxel each display voxel shows, shared by every prediction and label map of
        this scan. Built once per scan, by the first worker that needs it (a model run or a label
        map: seconds for a large scan, so neither the load nor the GUI thread pays for it)."""
        mapping = self.__dict__.get("_display_mapping")
        if mapping is None:
            with _MAPPING_LOCK:  # a model run and a label map may ask at the same time
                mapping = self.__dict__.get("_display_mapping")
                if mapping is None:
                    mapping = display_index(self.volume, self.display.affine, self.display.shape)
                    self.__dict__["_display_mapping"] = mapping  # a cache beside the frozen fields
        return mapping

    @property
    def source(self) -> Path | None:
        return self.volume.source

    @property
    def subdivided(self) -> bool:
        """Whether this is the scan with its voxels cut to about 1 mm (File > Reopen on a 1 mm grid)."""
        return "acquired_spacing" in self.volume.metadata  # volta_core.preprocess.resample.ACQUIRED_SPACING

    @property
    def display_spacing(self) -> np.ndarray:
        """Voxel size of the display grid along x, y, z (mm), shape ``(3,)``."""
        return np.diag(self.display.affine)[:3].copy()

    @property
    def display_origin(self) -> np.ndarray:
        """World position (RAS+ mm) of display voxel ``(0, 0, 0)``, shape ``(3,)``."""
        return self.display.affine[:3, 3].copy()

    @property
    def world_bounds(self) -> np.ndarray:
        """``(3, 2)`` min/max world coordinates of the display grid's voxel centres."""
        first = self.display_origin
        last = first + (np.asarray(self.display.shape) - 1) * self.display_spacing
        return np.stack([first, last], axis=1)

    @property
    def world_center(self) -> np.ndarray:
        return self.world_bounds.mean(axis=1)

    @property
    def center_voxel_world(self) -> np.ndarray:
        """World position of the display voxel nearest the grid's centre (where the cursor starts)."""
        middle = (np.asarray(self.display.shape) - 1) // 2
        return self.display_origin + middle * self.display_spacing

    def display_index(self, world: np.ndarray) -> np.ndarray:
        """Fractional display-grid index of a world point, shape ``(3,)``."""
        return (np.asarray(world, dtype=np.float64) - self.display_origin) / self.display_spacing

    def clamp_to_bounds(self, world: np.ndarray) -> np.ndarray:
        """The nearest point inside the display grid's extent."""
        bounds = self.world_bounds
        return np.clip(np.asarray(world, dtype=np.float64), bounds[:, 0], bounds[:, 1])

    def sample(self, world: np.ndarray) -> VoxelSample:
        """The original scan's nearest voxel index and value at a world position."""
        world = np.asarray(world, dtype=np.float64)
        ijk = np.rint(self.volume.world_to_voxel(world)).astype(int)
        inside = bool(np.all(ijk >= 0) and np.all(ijk < np.asarray(self.volume.shape)))
        index = tuple(int(v) for v in ijk) if inside else None
        value = float(self.volume.data[index]) if index is not None else None
        return VoxelSample(world=tuple(float(v) for v in world), index=index, value=value)  # type: ignore[arg-type]

    def describe(self) -> dict[str, str]:
        """Human-readable facts for the info panel (original scan geometry)."""
        vol = self.volume
        spacing = " x ".join(f"{s:.3g}" for s in vol.spacing)
        return {
            "Name": self.name,
            "Shape": " x ".join(str(s) for s in vol.shape),
            "Spacing (mm)": spacing,
            "Orientation": "".join(vol.orientation) + (" (oblique)" if vol.is_oblique else ""),
            "Data type": str(vol.data.dtype),
            "Intensity range": f"{self.stats.minimum:.4g} .. {self.stats.maximum:.4g}",
            "Format": str(vol.metadata.get("format", "")) or "-",
            "Source": str(self.source) if self.source else "-",
        }


class ImageModel:
    """Holds the current scan (or none); ``changed`` is emitted with the new layer or ``None``."""

    def __init__(self) -> None:
        self._layer: ImageLayer | None = None
        self.changed = Signal()

    @property
    def layer(self) -> ImageLayer | None:
        return self._layer

    def set_layer(self, layer: ImageLayer | None) -> None:
        self._layer = layer
        self.changed.emit(layer)
