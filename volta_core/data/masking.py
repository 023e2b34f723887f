"""3D block masking of patch tokens (iBOT/GMML style, built in the collate step)."""

from __future__ import annotations

import numpy as np


def block_mask(grid: tuple[int, int, int], ratio: float, rng: np.random.Generator, *,
               max_block: int = 3, min_block: int = 1) -> np.ndarray:
    """Mask ``round(ratio * N)`` tokens of a ``grid`` of patches with random boxes.

    Boxes of ``min_block``..``max_block`` patches per side are added at random positions until
    the target is reached; the last box is trimmed (its extra tokens left unmasked) so the
    count is exact.

    Returns:
        ``grid``-shaped bool array, True = masked.
    """
    mask = np.zeros(grid, dtype=bool)
    n = int(np.prod(grid))
    target = int(round(ratio * n))
    if target <= 0:
        return mask
    max_block = max(min_block, min(max_block, *grid))
    while True:
        count = int(mask.sum())
        if count >= target:
            break
        sides = [int(rng.integers(min_block, min(max_block, g) + 1)) for g in grid]
        start = [int(rng.integers(0, g - s + 1)) for g, s in zip(grid, sides)]
        box = np.zeros(grid, dtype=bool)
        box[tuple(slice(st, st + s) for st, s in zip(start, sides))] = True
        new = box & ~mask
        extra = int(new.sum()) - (target - count)
        if extra > 0:
            idx = np.argwhere(new)
            drop = idx[rng.choice(len(idx), size=extra, replace=False)]
            new[tuple(drop.T)] = False
        mask |= new
    return mask


def token_mask_to_voxels(mask: np.ndarray, patch: int) -> np.ndarray:
    """``(gd,gh,gw)`` token mask -> ``(gd*p, gh*p, gw*p)`` voxel mask."""
    return mask.repeat(patch, 0).repeat(patch, 1).repeat(patch, 2)
