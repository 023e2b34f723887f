"""Scan -> model input for training, through the SAME pipeline inference uses.

Training and prediction must see identical inputs, so this module only adapts
:func:`volta_core.preprocess.preprocess` (reorient to RAS, optionally register to the template,
resample, crop/pad, normalise - one composed affine, one interpolation) to training's needs:
a label mask pushed onto the same model grid with nearest neighbour. The model card of every
trained bundle records ``space``/``roi``/``spacing``/``size``/``normalisation`` so the
predictor rebuilds the same :class:`~volta_core.preprocess.pipeline.ModelInputSpec`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from volta_core.io.volume import Volume
from volta_core.preprocess.pipeline import ModelInputSpec, preprocess

NORMALISATIONS = ("percentile", "zscore")
SPACES = ("native", "template")


@dataclass
class PreparedSample:
    """Model-space arrays.

    Attributes:
        image: ``(S, S, S)`` float32, RAS storage order (axis 0 runs left -> right).
        mask: ``(S, S, S)`` int64 labels or ``None``.
        affine: ``(4, 4)`` model voxel -> model-space mm (scan mm in native space, template mm
            in template space).
    """

    image: np.ndarray
    mask: np.ndarray | None
    affine: np.ndarray


def size3(size: int | Sequence[int]) -> tuple[int, int, int]:
    """A model input size as ``(x, y, z)``: one integer is a cube."""
    if isinstance(size, (int, np.integer)):
        return (int(size),) * 3  # type: ignore[return-value]
    values = tuple(int(v) for v in size)
    if len(values) != 3:
        raise ValueError(f"size must be one integer or three, got {list(size)}")
    return values  # type: ignore[return-value]


def input_spec(*, spacing: float, size: int | Sequence[int], normalisation: str = "percentile", space: str = "native",
               roi: str | None = None) -> ModelInputSpec:
    """The :class:`ModelInputSpec` of a data config."""
    if normalisation not in NORMALISATIONS:
        raise ValueError(f"normalisation must be one of {NORMALISATIONS}, got {normalisation!r}")
    if space not in SPACES:
        raise ValueError(f"space must be one of {SPACES}, got {space!r}")
    return ModelInputSpec(spacing=(float(spacing),) * 3, size=size3(size), space=space,  # type: ignore[arg-type]
                          normalisation=normalisation, roi=roi)  # type: ignore[arg-type]


def card_input(*, spacing: float, size: int | Sequence[int], normalisation: str, space: str, roi: str | None) -> dict:
    """The ``input`` block of a model card for these settings (what the predictor reads)."""
    return {"spacing_mm": [float(spacing)] * 3, "size": list(size3(size)), "orientation": "RAS",
            "normalisation": normalisation, "space": space, **({"roi": roi} if roi else {})}


def prepare_sample(image: np.ndarray, affine: np.ndarray, *, spacing: float = 1.5, size: int | Sequence[int] = 96,
                   normalisation: str = "percentile", mask: np.ndarray | None = None,
                   space: str = "native", roi: str | None = None) -> PreparedSample:
    """Turn a scan (and optionally its label mask on the same grid) into model space.

    Args:
        image: ``(I, J, K)`` voxels in storage order.
        affine: ``(4, 4)`` voxel -> RAS mm of ``image`` (and ``mask``).
        spacing: isotropic model voxel size in mm.
        size: output shape in voxels (one integer: a cube).
        normalisation: ``"percentile"`` or ``"zscore"``.
        mask: integer labels on the image grid, resampled with nearest neighbour.
        space: ``"native"`` (centred on the head) or ``"template"`` (registered to the template).
        roi: template region to centre on (``"hippocampus"``), template space only.

    Returns:
        The prepared arrays and the model voxel -> model-space affine.
    """
    if image.ndim != 3:
        raise ValueError(f"image must be 3D, got shape {image.shape}")
    if mask is not None and mask.shape != image.shape:
        raise ValueError(f"mask shape {mask.shape} != image shape {image.shape}")
    spec = input_spec(spacing=spacing, size=size, normalisation=normalisation, space=space, roi=roi)
    prepared = preprocess(Volume(np.asarray(image), np.asarray(affine, dtype=np.float64)), spec)
    out_mask = None
    if mask is not None:
        out_mask = prepared.record.to_model(np.asarray(mask).astype(np.int16), order=0).astype(np.int64)
    return PreparedSample(image=prepared.data, mask=out_mask, affine=prepared.affine)
