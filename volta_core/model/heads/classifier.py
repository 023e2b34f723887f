"""Subject-level classification head on encoder tokens (e.g. sex, AD vs control)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from volta_core.registry import HEADS

__all__ = ["ClassificationHead"]


@HEADS.register("classifier")
class ClassificationHead(nn.Module):
    """Class token (optionally concatenated with the mean patch token) -> logits.

    A linear probe when ``hidden_dim`` is None, else a one-hidden-layer MLP. The features
    go through a LayerNorm first so that probing a frozen encoder is well conditioned.

    Args:
        embed_dim: Encoder width ``D``.
        num_classes: Output classes.
        use_patch_mean: Concatenate the mean patch token to the class token (2D features).
        hidden_dim: Hidden width of an MLP head; None = linear.
        dropout: Dropout before each linear layer.

    Raises:
        ValueError: Non-positive sizes or dropout outside [0, 1).
    """

    def __init__(
        self,
        embed_dim: int,
        num_classes: int = 2,
        use_patch_mean: bool = True,
        hidden_dim: int | None = None,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if embed_dim < 1 or num_classes < 1 or (hidden_dim is not None and hidden_dim < 1):
            raise ValueError(
                f"embed_dim, num_classes and hidden_dim must be positive, got "
                f"{embed_dim}, {num_classes}, {hidden_dim}."
            )
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}.")
        self.embed_dim, self.num_classes, self.use_patch_mean = embed_dim, num_classes, use_patch_mean
        in_dim = embed_dim * (2 if use_patch_mean else 1)
        self.norm = nn.LayerNorm(in_dim)
        if hidden_dim is None:
            self.mlp = nn.Sequential(nn.Dropout(dropout), nn.Linear(in_dim, num_classes))
        else:
            self.mlp = nn.Sequential(
                nn.Dropout(dropout), nn.Linear(in_dim, hidden_dim), nn.GELU(),
                nn.Dropout(dropout), nn.Linear(hidden_dim, num_classes),
            )
        for m in self.mlp.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.01)
                nn.init.zeros_(m.bias)

    def features(self, cls_token: Tensor, patch_tokens: Tensor | None = None) -> Tensor:
        """Pooled features ``(B, D)`` or ``(B, 2D)``."""
        # cls_token: (B, D); patch_tokens: (B, N, D)
        if not self.use_patch_mean:
            return cls_token
        if patch_tokens is None:
            raise ValueError("use_patch_mean=True needs patch_tokens (B, N, D).")
        return torch.cat([cls_token, patch_tokens.mean(dim=1)], dim=-1)

    def forward(self, cls_token: Tensor, patch_tokens: Tensor | None = None) -> Tensor:
        """Logits ``(B, num_classes)``.

        Args:
            cls_token: ``(B, D)``.
            patch_tokens: ``(B, N, D)``; required when ``use_patch_mean``.
        """
        return self.mlp(self.norm(self.features(cls_token, patch_tokens)))
