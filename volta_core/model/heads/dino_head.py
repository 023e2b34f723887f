"""DINO / iBOT projection head: MLP -> L2-normalised bottleneck -> weight-normed prototypes."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from volta_core.registry import HEADS

__all__ = ["DINOHead", "WeightNormLinear"]


class WeightNormLinear(nn.Module):
    """Bias-free linear layer with weight normalisation ``W = g * v / ||v||`` (row-wise).

    Written out instead of ``torch.nn.utils.parametrizations.weight_norm`` so that the
    parameters are plain tensors (clean ``deepcopy``, EMA and safetensors).

    Args:
        in_dim: Input features.
        out_dim: Output features (prototypes).
        fix_norm: Keep ``g == 1`` frozen (DINO's ``norm_last_layer=True``): then ``g`` is
            a buffer, not a parameter.
    """

    def __init__(self, in_dim: int, out_dim: int, fix_norm: bool = True) -> None:
        super().__init__()
        self.weight_v = nn.Parameter(nn.init.trunc_normal_(torch.empty(out_dim, in_dim), std=0.02))
        g = torch.ones(out_dim, 1)
        if fix_norm:
            self.register_buffer("weight_g", g)
        else:
            self.weight_g = nn.Parameter(g)

    @property
    def weight(self) -> Tensor:
        """Effective ``(out_dim, in_dim)`` weight."""
        return self.weight_g * F.normalize(self.weight_v, dim=1)

    def forward(self, x: Tensor) -> Tensor:
        # x: (..., in_dim) -> (..., out_dim)
        return F.linear(x, self.weight)


@HEADS.register("dino")
class DINOHead(nn.Module):
    """Projection head used for both the class-token (DINO) and patch-token (iBOT) losses.

    Defaults are reduced from DINO's (65536 / 2048 / 256) so that a step is comfortable
    on a 2-core CPU: 1024 prototypes are plenty for a few thousand volumes; raise
    ``out_dim`` (e.g. 4096-8192) on a GPU with more data.

    Args:
        in_dim: Encoder width ``D``.
        out_dim: Number of prototypes ``K`` (softmax size of the SSL losses).
        hidden_dim: MLP hidden width.
        bottleneck_dim: Width of the L2-normalised bottleneck before the prototypes.
        nlayers: MLP layers (>= 1; 1 = a single linear to the bottleneck).
        norm_last_layer: Freeze the prototype norms at 1 (stabilises training).

    Raises:
        ValueError: Non-positive sizes.
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int = 1024,
        hidden_dim: int = 512,
        bottleneck_dim: int = 128,
        nlayers: int = 3,
        norm_last_layer: bool = True,
    ) -> None:
        super().__init__()
        for name, v in dict(in_dim=in_dim, out_dim=out_dim, hidden_dim=hidden_dim,
                            bottleneck_dim=bottleneck_dim, nlayers=nlayers).items():
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}.")
        self.in_dim, self.out_dim = in_dim, out_dim
        self.mlp = self._build_mlp(in_dim, hidden_dim, bottleneck_dim, nlayers)
        self.last_layer = WeightNormLinear(bottleneck_dim, out_dim, fix_norm=norm_last_layer)
        for m in self.mlp.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

    @staticmethod
    def _build_mlp(in_dim: int, hidden_dim: int, bottleneck_dim: int, nlayers: int) -> nn.Sequential:
        if nlayers == 1:
            return nn.Sequential(nn.Linear(in_dim, bottleneck_dim))
        layers: list[nn.Module] = [nn.Linear(in_dim, hidden_dim), nn.GELU()]
        for _ in range(nlayers - 2):
            layers += [nn.Linear(hidden_dim, hidden_dim), nn.GELU()]
        layers.append(nn.Linear(hidden_dim, bottleneck_dim))
        return nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        # x: (..., in_dim) -> logits (..., out_dim)
        z = F.normalize(self.mlp(x), dim=-1, eps=1e-6)
        return self.last_layer(z)
