"""Configuration of the synthesis engine (plain dataclasses, JSON/YAML-friendly).

Two output grids (both RAS, voxel axes x, y, z):

* ``GridConfig.whole()``: the whole head, 128^3 at 1.5 mm (192 mm field of view) centred on
  the brain; matches a ViT with patch 16 (8^3 tokens). ``GridConfig.whole(96, 2.0)`` gives
  96^3 at 2 mm (216 tokens, the cheap pretraining size).
* ``GridConfig.roi()``: 96 x 64 x 64 at 1 mm centred between the hippocampi. The two
  hippocampi span about x -38..+39, y -46..-5, z -32..+8 mm in MNI space, so 96 mm is needed
  across; 64 mm suffices front-back and up-down (6 x 4 x 4 tokens at patch 16, or a 64^3 crop
  of one side with ``shape=(64, 64, 64)``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass
class GridConfig:
    """Output grid: ``kind`` "whole" (centred on the brain) or "roi" (centred on the hippocampi)."""

    kind: Literal["whole", "roi"] = "whole"
    shape: tuple[int, int, int] = (128, 128, 128)
    spacing_mm: float = 1.5

    @classmethod
    def whole(cls, size: int = 128, spacing_mm: float = 1.5) -> GridConfig:
        """Whole-head cube of ``size^3`` voxels."""
        return cls("whole", (size, size, size), spacing_mm)

    @classmethod
    def roi(cls, shape: tuple[int, int, int] = (96, 64, 64), spacing_mm: float = 1.0) -> GridConfig:
        """Hippocampal region of interest."""
        return cls("roi", tuple(shape), spacing_mm)  # type: ignore[arg-type]


@dataclass
class DeformConfig:
    """Random affine ranges (uniform in +-range) and the elastic field."""

    rotation_deg: float = 15.0
    scale: float = 0.15
    shear: float = 0.05
    translation_mm: float = 10.0
    roi_translation_mm: float = 4.0
    elastic_std_mm: float = 3.0
    elastic_control_points: int = 6


@dataclass
class IntensityConfig:
    """Contrast and artefact ranges; ``template_*`` are the milder ranges of template mode."""

    contrast: Literal["random", "t1"] = "random"
    #: with ``contrast="random"``, the probability that a synthesised sample is T1-like instead
    #: (the scans a lab feeds the model are mostly T1; 0 keeps the sample stream of older runs)
    t1_prob: float = 0.0
    share_lr_prob: float = 0.5
    share_tissue_prob: float = 0.25
    std_max: float = 0.08
    partial_volume_blur_vox: float = 1.0
    thick_slice_prob: float = 0.7
    thickness_mm: tuple[float, float] = (1.0, 6.0)
    bias_std_max: float = 0.3
    bias_control_points: int = 4
    gamma_std: float = 0.25
    noise_std_max: float = 0.05
    template_thick_slice_prob: float = 0.5
    template_thickness_mm: tuple[float, float] = (1.0, 4.0)
    template_bias_std_max: float = 0.15
    template_gamma_std: float = 0.1
    template_noise_std_max: float = 0.03
    invert_prob: float = 0.2


@dataclass
class MorphologyConfig:
    """Probability and range (relative volume change) of atrophy/hypertrophy (synth mode)."""

    hippocampus_prob: float = 0.5
    hippocampus_change: tuple[float, float] = (-0.3, 0.15)
    ventricle_prob: float = 0.3
    ventricle_change: tuple[float, float] = (0.0, 1.0)


@dataclass
class HeadConfig:
    """Thickness ranges (mm) of the synthetic shells around brain-only maps."""

    csf_rim_mm: tuple[float, float] = (1.0, 4.0)
    skull_mm: tuple[float, float] = (3.0, 8.0)
    soft_tissue_mm: tuple[float, float] = (2.0, 6.0)
    fat_mm: tuple[float, float] = (1.0, 5.0)
    modulation: float = 0.3


@dataclass
class SynthConfig:
    """Everything the generator draws from.

    Attributes:
        mode: ``"synth"`` (random-contrast GMM images), ``"template"`` (warped real T1) or
            ``"mixed"`` (template with probability ``template_prob``).
        flip_prob: probability of a world-space L/R mirror with label swap.
        return_full_label: also return the FreeSurfer-id label map as ``"full_label"``.
        image_source_prob: when the library mixes sources with a real image (DK/MNI152,
            fsaverage) and label maps without one, the probability of drawing a source with an
            image (``None``: every source equally likely). Template mode needs such a source.
        structures: what ``"label"`` segments (names of ``fs_labels.STRUCTURES``), each as a
            left and a right class after background.
    """

    mode: Literal["synth", "template", "mixed"] = "synth"
    template_prob: float = 0.3
    flip_prob: float = 0.5
    return_full_label: bool = False
    structures: tuple[str, ...] = ("hippocampus",)
    image_source_prob: float | None = None
    grid: GridConfig = field(default_factory=GridConfig)
    deform: DeformConfig = field(default_factory=DeformConfig)
    intensity: IntensityConfig = field(default_factory=IntensityConfig)
    morphology: MorphologyConfig = field(default_factory=MorphologyConfig)
    head: HeadConfig = field(default_factory=HeadConfig)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (for JSON/YAML and run folders)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SynthConfig:
        """Inverse of :meth:`to_dict` (lists become tuples; unknown keys raise ``TypeError``)."""
        nested = {"grid": GridConfig, "deform": DeformConfig, "intensity": IntensityConfig,
                  "morphology": MorphologyConfig, "head": HeadConfig}

        def build(kind: type, values: dict[str, Any]) -> Any:
            return kind(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})

        top = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k not in nested}
        parts = {k: build(kind, data[k]) for k, kind in nested.items() if k in data}
        return cls(**top, **parts)
