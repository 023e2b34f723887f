"""FreeSurfer label ids used by the synthesis engine: compact indices, L/R pairs, tissue classes.

Every source label map is expressed in FreeSurfer ids (aseg / aparc+aseg, cortical parcels
merged into ``3`` / ``42``) plus four head labels. Inside the generator the ids are replaced by
*compact* indices ``0..N_LABELS-1`` (an index into :data:`FS_LABELS`) so that lookup tables
(intensity per label, L/R swap) are small dense tensors, identical for every source.

Head labels: ``257`` CSF-ExtraCerebral, ``258`` Head-ExtraCerebral (scalp soft tissue) and
``259`` SkullApprox follow FreeSurferColorLUT; ``9001`` (subcutaneous fat) is VolTA-specific.
"""

from __future__ import annotations

import numpy as np

LEFT_HIPPOCAMPUS = 17
RIGHT_HIPPOCAMPUS = 53
LEFT_LATERAL_VENTRICLE = 4
RIGHT_LATERAL_VENTRICLE = 43
LEFT_INF_LAT_VENT = 5
RIGHT_INF_LAT_VENT = 44
LEFT_CORTEX = 3
RIGHT_CORTEX = 42
CSF = 24

CSF_RIM = 257
SOFT_TISSUE = 258
SKULL = 259
FAT = 9001
HEAD_LABELS: tuple[int, ...] = (CSF_RIM, SKULL, SOFT_TISSUE, FAT)

LR_PAIRS: tuple[tuple[int, int], ...] = (
    (2, 41), (3, 42), (4, 43), (5, 44), (7, 46), (8, 47), (10, 49), (11, 50), (12, 51),
    (13, 52), (17, 53), (18, 54), (26, 58), (28, 60), (30, 62), (31, 63),
)

# id -> tissue class; drives T1-like intensities and "share statistics by tissue" grouping.
TISSUE: dict[int, str] = {
    0: "background",
    2: "wm", 41: "wm", 7: "wm", 46: "wm", 251: "wm", 252: "wm", 253: "wm", 254: "wm", 255: "wm",
    85: "wm", 16: "brainstem", 28: "brainstem", 60: "brainstem", 77: "wm_hypo",
    3: "cortex", 42: "cortex", 8: "cerebellum", 47: "cerebellum",
    10: "thalamus", 49: "thalamus", 11: "caudate", 50: "caudate", 12: "putamen", 51: "putamen",
    13: "pallidum", 52: "pallidum", 17: "hippocampus", 53: "hippocampus",
    18: "amygdala", 54: "amygdala", 26: "accumbens", 58: "accumbens", 80: "gm_hypo",
    4: "csf", 43: "csf", 5: "csf", 44: "csf", 14: "csf", 15: "csf", 24: "csf",
    30: "vessel", 62: "vessel", 31: "choroid", 63: "choroid",
    CSF_RIM: "csf", SKULL: "skull", SOFT_TISSUE: "soft", FAT: "fat",
}

# Typical T1w intensity of each tissue relative to white matter (used by the "t1" contrast).
T1_MEANS: dict[str, float] = {
    "background": 0.0, "wm": 1.0, "brainstem": 0.88, "wm_hypo": 0.75, "cortex": 0.58,
    "cerebellum": 0.62, "thalamus": 0.82, "caudate": 0.66, "putamen": 0.72, "pallidum": 0.86,
    "hippocampus": 0.6, "amygdala": 0.62, "accumbens": 0.65, "gm_hypo": 0.5, "csf": 0.15,
    "vessel": 0.5, "choroid": 0.5, "skull": 0.07, "soft": 0.5, "fat": 1.15,
}

FS_LABELS: tuple[int, ...] = tuple(sorted(TISSUE))
"""All ids the engine knows, in compact order (index 0 is background)."""

N_LABELS = len(FS_LABELS)


def compact_lut() -> np.ndarray:
    """Lookup table FreeSurfer id -> compact index (``-1`` for unknown ids).

    Returns:
        ``(max_id + 1,)`` int16 array.
    """
    lut = np.full(max(FS_LABELS) + 1, -1, dtype=np.int16)
    lut[list(FS_LABELS)] = np.arange(N_LABELS, dtype=np.int16)
    return lut


def compact_index(fs_id: int) -> int:
    """Compact index of one FreeSurfer id (``ValueError`` if unknown)."""
    try:
        return FS_LABELS.index(int(fs_id))
    except ValueError:
        raise ValueError(f"FreeSurfer label {fs_id} is not known to the synthesis engine") from None


def flip_table() -> np.ndarray:
    """Compact -> compact table that swaps every left/right pair (midline labels unchanged).

    Returns:
        ``(N_LABELS,)`` int64 array.
    """
    table = np.arange(N_LABELS, dtype=np.int64)
    for left, right in LR_PAIRS:
        a, b = compact_index(left), compact_index(right)
        table[a], table[b] = b, a
    return table


def to_compact(fs_labels: np.ndarray) -> np.ndarray:
    """Map a FreeSurfer label array to compact indices.

    Cortical parcels of aparc+aseg (``1000-1999`` left, ``2000-2999`` right) become the cortex
    labels ``3`` / ``42`` so that DK and aseg maps share one definition.

    Args:
        fs_labels: integer array of FreeSurfer ids, any shape.

    Returns:
        uint8 array of compact indices, same shape.

    Raises:
        ValueError: if the map contains ids the engine does not know.
    """
    ids = np.asarray(fs_labels).astype(np.int64)
    ids = np.where((ids >= 1000) & (ids < 2000), LEFT_CORTEX, ids)
    ids = np.where((ids >= 2000) & (ids < 3000), RIGHT_CORTEX, ids)
    lut = compact_lut()
    bad = np.unique(ids[(ids < 0) | (ids >= lut.size)])
    inside = ids[(ids >= 0) & (ids < lut.size)]
    bad = np.union1d(bad, np.unique(inside[lut[inside] < 0]))
    if bad.size:
        raise ValueError(f"label map has ids unknown to the synthesis engine: {bad.tolist()[:20]}")
    return lut[ids].astype(np.uint8)


def fs_ids() -> np.ndarray:
    """Compact index -> FreeSurfer id, ``(N_LABELS,)`` int64."""
    return np.asarray(FS_LABELS, dtype=np.int64)
