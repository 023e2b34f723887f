"""Patch-grid arithmetic shared by the encoder, decoders and losses.

``patchify`` / ``unpatchify`` map a volume to one row of ``p**3 * C`` voxels per
patch token, in the same token order as the encoder's Conv3d patch embedding
(``flatten(2)`` over ``(gD, gH, gW)``, i.e. depth-major, width fastest).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = ["grid_size", "patchify", "unpatchify", "token_mask_to_voxel_mask"]


def grid_size(spatial: Sequence[int], patch_size: int) -> tuple[int, int, int]:
    """Token grid for a 3D input size.

    Args:
        spatial: ``(D, H, W)`` input size in voxels.
        patch_size: Cubic patch edge in voxels.

    Returns:
        ``(D // p, H // p, W // p)``.

    Raises:
        ValueError: If ``spatial`` is not 3D or a side is not a positive multiple of ``patch_size``.
    """
    spatial = tuple(int(s) for s in spatial)
    if len(spatial) != 3:
        raise ValueError(f"expected a 3D size (D, H, W), got {spatial}.")
    if patch_size < 1:
        raise ValueError(f"patch_size must be >= 1, got {patch_size}.")
    bad = [s for s in spatial if s <= 0 or s % patch_size]
    if bad:
        raise ValueError(
            f"input size {spatial} is not divisible by the patch size {patch_size}: "
            f"crop or pad each side to a multiple of {patch_size} (e.g. "
            f"{tuple(max(patch_size, (s // patch_size) * patch_size) for s in spatial)})."
        )
    return spatial[0] // patch_size, spatial[1] // patch_size, spatial[2] // patch_size


def patchify(x: Tensor, patch_size: int) -> Tensor:
    """Cut a volume into flattened cubic patches.

    Args:
        x: Volume ``(B, C, D, H, W)``; each side divisible by ``patch_size``.
        patch_size: Patch edge ``p``.

    Returns:
        ``(B, N, p**3 * C)`` with ``N = (D/p)(H/p)(W/p)``; per row the layout is ``(pd, ph, pw, C)``.
    """
    if x.ndim != 5:
        raise ValueError(f"patchify expects (B, C, D, H, W), got shape {tuple(x.shape)}.")
    b, c = x.shape[:2]
    gd, gh, gw = grid_size(x.shape[2:], patch_size)
    p = patch_size
    # x: (B, C, gD, p, gH, p, gW, p)
    x = x.reshape(b, c, gd, p, gh, p, gw, p)
    # x: (B, gD, gH, gW, p, p, p, C)
    x = x.permute(0, 2, 4, 6, 3, 5, 7, 1)
    return x.reshape(b, gd * gh * gw, p**3 * c)


def unpatchify(tokens: Tensor, grid: Sequence[int], patch_size: int, channels: int = 1) -> Tensor:
    """Inverse of :func:`patchify`.

    Args:
        tokens: ``(B, N, p**3 * C)`` with ``N = prod(grid)``.
        grid: Token grid ``(gD, gH, gW)``.
        patch_size: Patch edge ``p``.
        channels: ``C``.

    Returns:
        Volume ``(B, C, gD*p, gH*p, gW*p)``.
    """
    gd, gh, gw = (int(g) for g in grid)
    p = patch_size
    b, n, f = tokens.shape
    if n != gd * gh * gw or f != p**3 * channels:
        raise ValueError(
            f"tokens of shape {tuple(tokens.shape)} do not match grid {tuple(grid)}, "
            f"patch {p} and {channels} channel(s): expected (B, {gd * gh * gw}, {p**3 * channels})."
        )
    # x: (B, gD, gH, gW, p, p, p, C)
    x = tokens.reshape(b, gd, gh, gw, p, p, p, channels)
    # x: (B, C, gD, p, gH, p, gW, p)
    x = x.permute(0, 7, 1, 4, 2, 5, 3, 6)
    return x.reshape(b, channels, gd * p, gh * p, gw * p)


def token_mask_to_voxel_mask(mask: Tensor, grid: Sequence[int], patch_size: int) -> Tensor:
    """Expand a per-token mask to voxels.

    Args:
        mask: ``(B, N)`` bool, ``N = prod(grid)``.
        grid: Token grid ``(gD, gH, gW)``.
        patch_size: Patch edge ``p``.

    Returns:
        ``(B, 1, gD*p, gH*p, gW*p)`` bool.
    """
    b = mask.shape[0]
    # m: (B, 1, gD, gH, gW)
    m = mask.reshape(b, 1, *(int(g) for g in grid))
    for dim in (2, 3, 4):
        m = m.repeat_interleave(patch_size, dim=dim)
    return m
