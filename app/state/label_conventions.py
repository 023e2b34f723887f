"""Reading a reference label map in any common convention as this app's hippocampus labels (Qt-free).

Three conventions are understood:

- FreeSurfer (``aseg.mgz``, ``aparc+aseg.mgz``, SynthSeg): 17 = left, 53 = right hippocampus; every
  other structure is background.
- This app's own masks: 1 = left, 2 = right (``volta predict`` and File > Save mask write these;
  a model that also segments amygdala and inferior lateral ventricle writes 3-6 as well, which
  are ignored here: the reference is the hippocampus).
- A single-label (binary) mask: one non-zero value; which side it is cannot be read from the file,
  so the user is asked (left, right, or both, split at the mask's midline).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.state.segmentation import LEFT, RIGHT

ASEG_LEFT_HIPPOCAMPUS, ASEG_RIGHT_HIPPOCAMPUS = 17, 53
#: the highest label this app's masks hold (hippocampus 1/2, amygdala 3/4, inferior lateral ventricle 5/6)
APP_MAX_LABEL = 6
APP, ASEG, SINGLE = "app", "aseg", "single"
SIDES = ("left", "right", "both")


class UnknownLabelConvention(ValueError):
    """The label map is neither FreeSurfer, this app's 1/2, nor a single-label mask."""

    def __init__(self, values: tuple[int, ...]) -> None:
        shown = ", ".join(str(v) for v in values[:12]) + (" ..." if len(values) > 12 else "")
        super().__init__(f"The label map holds the labels {shown}, which match no known convention.")
        self.values = values
        self.hint = ("Use a FreeSurfer aseg (17 = left, 53 = right hippocampus), a mask with 1 = left and "
                     "2 = right, or a mask with a single label.")


@dataclass(frozen=True)
class LabelMapKind:
    """What a label map holds: ``convention`` (APP, ASEG or SINGLE) and its non-zero values."""

    convention: str
    values: tuple[int, ...]

    def describe(self) -> str:
        return {ASEG: "FreeSurfer labels (17 = left, 53 = right hippocampus)",
                APP: "this app's labels (1 = left, 2 = right hippocampus)",
                SINGLE: f"a single-label mask (value {self.values[0] if self.values else '-'})"}[self.convention]


def as_integer_labels(data: np.ndarray) -> np.ndarray:
    """Label values as ``int32`` (a float file is rounded: some tools save labels as float)."""
    data = np.asarray(data)
    if np.issubdtype(data.dtype, np.integer):
        return data.astype(np.int32, copy=False)
    return np.rint(np.nan_to_num(data)).astype(np.int32)


def classify_label_map(values: np.ndarray | tuple[int, ...], app_labels: bool = False) -> LabelMapKind:
    """The convention of a label map from its distinct values (0 is ignored).

    Args:
        app_labels: the file names its labels as this app does (``save_mask`` writes the names):
            1 and 2 then mean left and right even if only one of them is present.

    A lone 2 is read as this app's right hippocampus (a binary mask holds 1 or 255, not 2); a lone
    other value is a single-label mask whose side the user must give.

    Raises:
        UnknownLabelConvention: several labels but not FreeSurfer's or 1/2.
    """
    nonzero = tuple(sorted(int(v) for v in np.unique(np.asarray(values)) if int(v) != 0))
    if ASEG_LEFT_HIPPOCAMPUS in nonzero or ASEG_RIGHT_HIPPOCAMPUS in nonzero:
        if len(nonzero) > 2 or set(nonzero) <= {ASEG_LEFT_HIPPOCAMPUS, ASEG_RIGHT_HIPPOCAMPUS}:
            return LabelMapKind(ASEG, nonzero)
    if nonzero == (RIGHT,) or (app_labels and nonzero == (LEFT,)):
        return LabelMapKind(APP, nonzero)
    if len(nonzero) <= 1:
        return LabelMapKind(SINGLE, nonzero)
    if set(nonzero) == {LEFT, RIGHT}:
        return LabelMapKind(APP, nonzero)
    # a structures model's mask: 1/2 hippocampus, then amygdala 3/4 and inferior lateral ventricle 5/6
    if set(nonzero) <= set(range(1, APP_MAX_LABEL + 1)) and (app_labels or {LEFT, RIGHT} <= set(nonzero)):
        return LabelMapKind(APP, nonzero)
    raise UnknownLabelConvention(nonzero)


def to_hippocampus_labels(labels: np.ndarray, kind: LabelMapKind, affine: np.ndarray,
                          side: str | None = None) -> np.ndarray:
    """``(I, J, K)`` uint8 with 0 background, 1 left, 2 right hippocampus.

    Args:
        labels: integer label map on the scan's grid.
        kind: from :func:`classify_label_map`.
        affine: the grid's voxel -> RAS mm affine (used to split a single-label mask of both sides).
        side: for a single-label mask: ``"left"``, ``"right"`` or ``"both"``.

    Raises:
        ValueError: a single-label mask without a valid ``side``.
    """
    out = np.zeros(labels.shape, dtype=np.uint8)
    if kind.convention == ASEG:
        out[labels == ASEG_LEFT_HIPPOCAMPUS] = LEFT
        out[labels == ASEG_RIGHT_HIPPOCAMPUS] = RIGHT
        return out
    if kind.convention == APP:
        out[labels == LEFT] = LEFT
        out[labels == RIGHT] = RIGHT
        return out
    if side not in SIDES:
        raise ValueError(f"a single-label mask needs a side ({', '.join(SIDES)}), got {side!r}")
    inside = labels != 0
    if side == "left":
        out[inside] = LEFT
    elif side == "right":
        out[inside] = RIGHT
    else:
        out[inside] = split_at_midline(inside, affine)[inside]
    return out


def split_at_midline(mask: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """Label the voxels of ``mask`` left (1) or right (2) of the plane x = the mask's mean x.

    In RAS+ world coordinates x grows towards the subject's right (FreeSurfer's aseg puts the left
    hippocampus, 17, at x = -26 mm on fsaverage), so voxels with x above the mean are the right one. The two hippocampi lie about 50 mm apart, so the mean
    falls between them for any mask holding both.
    """
    idx = np.argwhere(mask)  # (n, 3)
    out = np.zeros(mask.shape, dtype=np.uint8)
    if idx.size == 0:
        return out
    x = idx @ np.asarray(affine, dtype=np.float64)[0, :3] + float(affine[0, 3])
    out[tuple(idx[x > x.mean()].T)] = RIGHT
    out[tuple(idx[x <= x.mean()].T)] = LEFT
    return out
