"""Light decoder reconstructing voxels from patch tokens (for the masked-volume loss)."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from volta_core.model.patches import unpatchify
from volta_core.registry import HEADS

__all__ = ["ReconstructionDecoder3D"]


@HEADS.register("recon_linear")
class ReconstructionDecoder3D(nn.Module):
    """Per-token linear (or small MLP) map to ``p^3 * C`` voxels, then unpatchify.

    Kept deliberately light (as in SimMIM) so the encoder, not the decoder, has to
    model the anatomy.

    Args:
        embed_dim: Encoder width ``D``.
        patch_size: Encoder patch edge ``p``.
        out_chans: Reconstructed channels.
        hidden_dim: If set, a GELU hidden layer of this width before the voxel projection.

    Raises:
        ValueError: Non-positive sizes.
    """

    def __init__(
        self, embed_dim: int, patch_size: int, out_chans: int = 1, hidden_dim: int | None = None
    ) -> None:
        super().__init__()
        if min(embed_dim, patch_size, out_chans) < 1 or (hidden_dim is not None and hidden_dim < 1):
            raise ValueError(
                f"embed_dim, patch_size, out_chans, hidden_dim must be positive, got "
                f"{embed_dim}, {patch_size}, {out_chans}, {hidden_dim}."
            )
        self.embed_dim, self.patch_size, self.out_chans = embed_dim, patch_size, out_chans
        out_dim = patch_size**3 * out_chans
        if hidden_dim is None:
            self.proj = nn.Sequential(nn.Linear(embed_dim, out_dim))
        else:
            self.proj = nn.Sequential(nn.Linear(embed_dim, hidden_dim), nn.GELU(), nn.Linear(hidden_dim, out_dim))

    def forward(self, patch_tokens: Tensor, grid: Sequence[int]) -> Tensor:
        """Reconstruct a volume.

        Args:
            patch_tokens: ``(B, N, D)`` with ``N = prod(grid)``.
            grid: Token grid ``(gD, gH, gW)``.

        Returns:
            ``(B, out_chans, gD*p, gH*p, gW*p)``.
        """
        # voxels: (B, N, p^3 * C)
        voxels = self.proj(patch_tokens)
        return unpatchify(voxels, grid, self.patch_size, self.out_chans)
