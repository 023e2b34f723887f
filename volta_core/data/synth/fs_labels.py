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

# Extra-cerebral labels of SynthSeg's individual training maps (automatic clusters of head
# tissue: scalp, skull, fat, muscle, eyes ...); each keeps its own id so that random contrasts
# give the head realistic variety.
SYNTHSEG_EXTRA_CEREBRAL: tuple[int, ...] = (502, 506, 507, 508, 509, 511, 512, 514, 515, 516, 530)

LR_PAIRS: tuple[tuple[int, int], ...] = (
    (2, 41), (3, 42), (4, 43), (5, 44), (7, 46), (8, 47), (10, 49), (11, 50), (12, 51),
    (13, 52), (17, 53), (18, 54), (25, 57), (26, 58), (28, 60), (30, 62), (31, 63),
    (136, 137), (163, 164),
)

# Structures the segmentation head can be trained for: name -> (left id, right id). The model's
# classes are 0 background, then left/right of each structure in the order asked for.
STRUCTURES: dict[str, tuple[int, int]] = {
    "hippocampus": (17, 53),
    "amygdala": (18, 54),
    "inferior_lateral_ventricle": (5, 44),
}

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
    25: "wm_hypo", 57: "wm_hypo", 72: "csf",  # lesions, 5th ventricle (individual maps)
    136: "wm", 137: "wm", 163: "gm_hypo", 164: "gm_hypo",  # small extra labels of SynthSeg's maps
    CSF_RIM: "csf", SKULL: "skull", SOFT_TISSUE: "soft", FAT: "fat",
    **{i: "soft" for i in SYNTHSEG_EXTRA_CEREBRAL},
}
EXTRA_CEREBRAL: frozenset[int] = frozenset(HEAD_LABELS + SYNTHSEG_EXTRA_CEREBRAL)

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


def structure_classes(structures: tuple[str, ...] | list[str]) -> dict[int, str]:
    """Class index -> name of a segmentation head for ``structures`` (0 is background).

    Raises:
        ValueError: an unknown structure name.
    """
    names = {0: "background"}
    for name in structures:
        if name not in STRUCTURES:
            raise ValueError(f"unknown structure {name!r}; choose from {sorted(STRUCTURES)}")
        label = name.replace("_", " ")
        names[len(names)] = f"left {label}"
        names[len(names)] = f"right {label}"
    return names


def target_table(structures: tuple[str, ...] | list[str]) -> np.ndarray:
    """Compact index -> class index of a segmentation head for ``structures``.

    Returns:
        ``(N_LABELS,)`` int64 array (0 for everything not segmented).
    """
    structure_classes(structures)  # validates the names
    table = np.zeros(N_LABELS, dtype=np.int64)
    for k, name in enumerate(structures):
        left, right = STRUCTURES[name]
        table[compact_index(left)] = 1 + 2 * k
        table[compact_index(right)] = 2 + 2 * k
    return table


def class_swap(n_classes: int) -> list[int]:
    """Channel order that mirrors a ``n_classes`` segmentation (left and right classes swapped)."""
    order = [0]
    for c in range(1, n_classes, 2):
        order += [c + 1, c] if c + 1 < n_classes else [c]
    return order
