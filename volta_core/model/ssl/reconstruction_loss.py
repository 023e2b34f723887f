"""Masked-voxel reconstruction loss (SimMIM / MAE style, 3D)."""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from volta_core.model.patches import grid_size, patchify, token_mask_to_voxel_mask, unpatchify
from volta_core.registry import LOSSES

__all__ = ["ReconstructionLoss"]


@LOSSES.register("reconstruction")
class ReconstructionLoss(nn.Module):
    """MSE or L1 between prediction and target, averaged over masked voxels only.

    Args:
        loss_type: ``"mse"`` or ``"l1"``.
        patch_size: Patch edge; used to expand a token mask and for ``norm_pix``.
        norm_pix: Normalise the target per patch (mean 0, std 1 over the patch's voxels,
            MAE's ``norm_pix_loss``) so that the loss weighs structure, not intensity offsets.
        eps: Variance floor for ``norm_pix``.

    Raises:
        ValueError: Unknown ``loss_type`` or non-positive ``patch_size``.
    """

    def __init__(
        self,
        loss_type: Literal["mse", "l1"] = "mse",
        patch_size: int = 16,
        norm_pix: bool = False,
        eps: float = 1e-6,
    ) -> None:
        super().__init__()
        if loss_type not in ("mse", "l1"):
            raise ValueError(f"loss_type must be 'mse' or 'l1', got {loss_type!r}.")
        if patch_size < 1:
            raise ValueError(f"patch_size must be positive, got {patch_size}.")
        self.loss_type, self.patch_size, self.norm_pix, self.eps = loss_type, patch_size, norm_pix, eps

    def voxel_mask(self, mask: Tensor, target: Tensor) -> Tensor:
        """Bool voxel mask ``(B, 1 or C, D, H, W)`` from a token ``(B, N)`` or voxel mask."""
        if mask.dtype != torch.bool:
            raise ValueError(f"mask must be bool, got {mask.dtype}.")
        b = target.shape[0]
        if mask.ndim == 2:
            grid = grid_size(target.shape[2:], self.patch_size)
            if mask.shape != (b, grid[0] * grid[1] * grid[2]):
                raise ValueError(f"token mask {tuple(mask.shape)} does not match grid {grid} of batch {b}.")
            return token_mask_to_voxel_mask(mask, grid, self.patch_size)
        if mask.ndim == 4:
            mask = mask.unsqueeze(1)
        if mask.ndim != 5 or mask.shape[0] != b or mask.shape[2:] != target.shape[2:]:
            raise ValueError(
                f"voxel mask {tuple(mask.shape)} does not match target {tuple(target.shape)}."
            )
        return mask

    def normalise_target(self, target: Tensor) -> Tensor:
        """Per-patch standardised target ``(B, C, D, H, W)``."""
        grid = grid_size(target.shape[2:], self.patch_size)
        # t: (B, N, p^3 C)
        t = patchify(target, self.patch_size)
        mean = t.mean(dim=-1, keepdim=True)
        var = t.var(dim=-1, keepdim=True, unbiased=False)
        t = (t - mean) / (var + self.eps).sqrt()
        return unpatchify(t, grid, self.patch_size, target.shape[1])

    def forward(self, pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
        """Mean error over masked voxels.

        Args:
            pred: ``(B, C, D, H, W)`` reconstruction.
            target: ``(B, C, D, H, W)`` clean volume (no grad needed).
            mask: ``(B, N)`` bool token mask, or ``(B, [1,] D, H, W)`` bool voxel mask;
                ``True`` = masked = scored.

        Returns:
            Scalar loss (fp32); 0 (still differentiable) when nothing is masked.
        """
        if pred.shape != target.shape or pred.ndim != 5:
            raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} must match (B, C, D, H, W).")
        vmask = self.voxel_mask(mask, target).expand_as(pred)
        target = target.detach().float()
        if self.norm_pix:
            target = self.normalise_target(target)
        diff = pred.float() - target
        err = diff.square() if self.loss_type == "mse" else diff.abs()
        w = vmask.float()
        return (err * w).sum() / w.sum().clamp_min(1.0)
