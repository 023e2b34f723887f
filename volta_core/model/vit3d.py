"""3D Vision Transformer encoder (the VolTA-3D backbone) and its named presets.

A Conv3d cuts the volume into cubic patches, a class token and learned positional
embedding are added (the embedding is trilinearly resized for any input whose sides
are multiples of the patch size), pre-norm transformer blocks run with
``F.scaled_dot_product_attention`` and a final LayerNorm closes the stack.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from volta_core.contracts.model_card import ENCODER_PRESETS  # the card names a preset: one table
from volta_core.model.patches import grid_size
from volta_core.registry import ENCODERS

__all__ = [
    "EncoderOutput",
    "VisionTransformer3D",
    "ENCODER_PRESETS",
    "build_encoder",
    "default_out_indices",
    "resize_pos_embed",
]


@dataclass
class EncoderOutput:
    """Named encoder outputs.

    Attributes:
        cls_token: ``(B, D)`` class token after the final norm.
        patch_tokens: ``(B, N, D)`` patch tokens after the final norm.
        layers: Block index (1-based) -> ``(B, N, D)`` patch tokens output by that block
            (before the final norm, class token dropped).
        grid: Token grid ``(gD, gH, gW)``; ``N = gD * gH * gW``.
    """

    cls_token: Tensor
    patch_tokens: Tensor
    layers: dict[int, Tensor] = field(default_factory=dict)
    grid: tuple[int, int, int] = (0, 0, 0)


def default_out_indices(depth: int) -> tuple[int, ...]:
    """Four evenly spaced 1-based block indices ending at ``depth`` (12 -> (3, 6, 9, 12))."""
    return tuple(sorted({max(1, math.ceil(depth * k / 4)) for k in range(1, 5)}))


class DropPath(nn.Module):
    """Stochastic depth per sample (identity at eval or with ``p == 0``)."""

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        # x: (B, ...)
        if self.p == 0.0 or not self.training:
            return x
        keep = 1.0 - self.p
        shape = (x.shape[0],) + (1,) * (x.ndim - 1)
        return x * x.new_empty(shape).bernoulli_(keep).div_(keep)


class Attention(nn.Module):
    """Multi-head self-attention on ``(B, N, D)`` using ``F.scaled_dot_product_attention``."""

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        # x: (B, N, D)
        b, n, d = x.shape
        # qkv: (3, B, heads, N, D/heads)
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, d // self.num_heads).permute(2, 0, 3, 1, 4)
        # out: (B, heads, N, D/heads)
        out = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])
        return self.proj(out.transpose(1, 2).reshape(b, n, d))


class Mlp(nn.Module):
    """Two-layer GELU MLP on the last dimension."""

    def __init__(self, dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        # x: (B, N, D)
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm transformer block: ``x + attn(norm(x))`` then ``x + mlp(norm(x))``."""

    def __init__(
        self, dim: int, num_heads: int, mlp_ratio: float, qkv_bias: bool, drop_path: float
    ) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads, qkv_bias)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.drop_path = DropPath(drop_path)

    def forward(self, x: Tensor) -> Tensor:
        # x: (B, 1 + N, D)
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


def resize_pos_embed(pos_embed: Tensor, from_grid: Sequence[int], to_grid: Sequence[int]) -> Tensor:
    """A positional embedding learned for one token grid, trilinearly resized to another.

    The class-token position is kept as is; the patch positions are treated as a ``D``-channel
    volume and resampled (as timm's ``resample_abs_pos_embed`` / DINOv2's
    ``interpolate_pos_encoding`` do in 2D). Used at every forward pass for inputs of another
    size, and once when pretrained weights initialise an encoder built for another grid.

    Args:
        pos_embed: ``(1, 1 + prod(from_grid), D)``.
        from_grid: the token grid ``(gD, gH, gW)`` the embedding was learned for.
        to_grid: the wanted token grid.

    Returns:
        ``(1, 1 + prod(to_grid), D)`` (``pos_embed`` itself when the grids are equal).

    Raises:
        ValueError: ``pos_embed`` does not hold ``1 + prod(from_grid)`` tokens.
    """
    from_grid = tuple(int(g) for g in from_grid)
    to_grid = tuple(int(g) for g in to_grid)
    if pos_embed.ndim != 3 or pos_embed.shape[1] != 1 + math.prod(from_grid):
        raise ValueError(f"pos_embed {tuple(pos_embed.shape)} does not hold 1 + {math.prod(from_grid)} tokens "
                         f"of the grid {from_grid}.")
    if to_grid == from_grid:
        return pos_embed
    dim = pos_embed.shape[2]
    # cls_pos: (1, 1, D); patch_pos: (1, D, g0, g1, g2) at the learned grid
    cls_pos, patch_pos = pos_embed[:, :1], pos_embed[:, 1:]
    patch_pos = patch_pos.reshape(1, *from_grid, dim).permute(0, 4, 1, 2, 3)
    # patch_pos: (1, D, gD, gH, gW) at the requested grid
    patch_pos = F.interpolate(patch_pos.float(), size=to_grid, mode="trilinear", align_corners=False)
    patch_pos = patch_pos.to(pos_embed.dtype).flatten(2).transpose(1, 2)
    return torch.cat([cls_pos, patch_pos], dim=1)


class VisionTransformer3D(nn.Module):
    """3D ViT encoder with class token, resizable positional embedding and mask token.

    Args:
        img_size: Input size ``(D, H, W)`` the positional embedding is learned for (an
            int means a cube). Other sizes divisible by ``patch_size`` work by trilinear
            interpolation of the embedding.
        patch_size: Cubic patch edge in voxels.
        in_chans: Input channels.
        embed_dim: Token width ``D``; must be divisible by ``num_heads``.
        depth: Number of transformer blocks.
        num_heads: Attention heads.
        mlp_ratio: MLP hidden width / ``embed_dim``.
        qkv_bias: Bias on the q, k, v projection.
        drop_path_rate: Maximum stochastic-depth rate (linearly increasing over blocks).
        out_indices: 1-based block indices whose outputs are returned in
            ``EncoderOutput.layers`` by default (UNETR taps). ``None`` -> four evenly
            spaced blocks ending at ``depth``: (3, 6, 9, 12) for depth 12, (2, 3, 5, 6) for 6.
        use_checkpoint: Recompute block activations in backward to save memory.

    Raises:
        ValueError: On non-positive sizes, ``embed_dim % num_heads != 0``, a size not
            divisible by ``patch_size`` or an out index outside ``1..depth``.
    """

    def __init__(
        self,
        img_size: int | Sequence[int] = (96, 96, 96),
        patch_size: int = 16,
        in_chans: int = 1,
        embed_dim: int = 192,
        depth: int = 12,
        num_heads: int = 3,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        drop_path_rate: float = 0.0,
        out_indices: Sequence[int] | None = None,
        use_checkpoint: bool = False,
    ) -> None:
        super().__init__()
        img_size = (img_size,) * 3 if isinstance(img_size, int) else tuple(int(s) for s in img_size)
        self._check_args(patch_size, in_chans, embed_dim, depth, num_heads, mlp_ratio, drop_path_rate)
        self.img_size: tuple[int, int, int] = img_size  # type: ignore[assignment]
        self.grid_size = grid_size(img_size, patch_size)
        self.patch_size = patch_size
        self.in_chans = in_chans
        self.embed_dim = embed_dim
        self.depth = depth
        self.num_heads = num_heads
        self.out_indices = self._check_out_indices(out_indices, depth)
        self.use_checkpoint = use_checkpoint
        self.config: dict[str, Any] = dict(
            img_size=list(img_size), patch_size=patch_size, in_chans=in_chans, embed_dim=embed_dim,
            depth=depth, num_heads=num_heads, mlp_ratio=mlp_ratio, qkv_bias=qkv_bias,
            drop_path_rate=drop_path_rate, out_indices=list(self.out_indices),
        )

        num_patches = self.grid_size[0] * self.grid_size[1] * self.grid_size[2]
        self.patch_embed = nn.Conv3d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.mask_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + num_patches, embed_dim))
        rates = [drop_path_rate * i / max(depth - 1, 1) for i in range(depth)]
        self.blocks = nn.ModuleList(
            Block(embed_dim, num_heads, mlp_ratio, qkv_bias, rates[i]) for i in range(depth)
        )
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)
        self._init_weights()

    @staticmethod
    def _check_args(
        patch_size: int, in_chans: int, embed_dim: int, depth: int, num_heads: int,
        mlp_ratio: float, drop_path_rate: float,
    ) -> None:
        for name, value in dict(
            patch_size=patch_size, in_chans=in_chans, embed_dim=embed_dim, depth=depth, num_heads=num_heads
        ).items():
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}.")
        if embed_dim % num_heads:
            raise ValueError(f"embed_dim ({embed_dim}) must be divisible by num_heads ({num_heads}).")
        if mlp_ratio <= 0:
            raise ValueError(f"mlp_ratio must be > 0, got {mlp_ratio}.")
        if not 0.0 <= drop_path_rate < 1.0:
            raise ValueError(f"drop_path_rate must be in [0, 1), got {drop_path_rate}.")

    @staticmethod
    def _check_out_indices(out_indices: Sequence[int] | None, depth: int) -> tuple[int, ...]:
        if out_indices is None:
            return default_out_indices(depth)
        out = tuple(int(i) for i in out_indices)
        bad = [i for i in out if not 1 <= i <= depth]
        if bad:
            raise ValueError(f"out_indices {out} must lie in 1..depth ({depth}); bad: {bad}.")
        return out

    def _init_weights(self) -> None:
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        nn.init.normal_(self.mask_token, std=1e-6)
        w = self.patch_embed.weight
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))
        nn.init.zeros_(self.patch_embed.bias)
        for m in self.blocks.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def no_weight_decay(self) -> set[str]:
        """Parameter names (relative to the encoder) that should not be weight-decayed."""
        return {"pos_embed", "cls_token", "mask_token"}

    @property
    def num_layers(self) -> int:
        """Number of transformer blocks (``depth``)."""
        return self.depth

    def interpolate_pos_embed(self, grid: Sequence[int]) -> Tensor:
        """Positional embedding for a token grid, trilinearly resized when it differs.

        Args:
            grid: Target token grid ``(gD, gH, gW)``.

        Returns:
            ``(1, 1 + gD*gH*gW, D)``.
        """
        return resize_pos_embed(self.pos_embed, self.grid_size, grid)

    def check_input(self, x: Tensor) -> tuple[int, int, int]:
        """Validate an input volume and return its token grid.

        Args:
            x: ``(B, C, D, H, W)``.

        Raises:
            ValueError: Wrong rank, channel count, or a side not divisible by the patch size.
        """
        if x.ndim != 5:
            raise ValueError(f"expected input (B, C, D, H, W), got shape {tuple(x.shape)}.")
        if x.shape[1] != self.in_chans:
            raise ValueError(f"expected {self.in_chans} input channel(s), got {x.shape[1]}.")
        return grid_size(x.shape[2:], self.patch_size)

    def prepare_tokens(self, x: Tensor, mask: Tensor | None = None) -> tuple[Tensor, tuple[int, int, int]]:
        """Embed patches, apply the mask token, prepend the class token, add positions.

        Args:
            x: ``(B, C, D, H, W)``.
            mask: Optional ``(B, N)`` bool; ``True`` tokens are replaced by the mask token.

        Returns:
            Tokens ``(B, 1 + N, D)`` and the token grid.
        """
        grid = self.check_input(x)
        # tokens: (B, N, D)
        tokens = self.patch_embed(x).flatten(2).transpose(1, 2)
        b, n, _ = tokens.shape
        if mask is not None:
            if mask.shape != (b, n) or mask.dtype != torch.bool:
                raise ValueError(
                    f"mask must be a bool tensor of shape (B, N) = ({b}, {n}), "
                    f"got {mask.dtype} {tuple(mask.shape)}."
                )
            tokens = torch.where(mask.unsqueeze(-1), self.mask_token.to(tokens.dtype), tokens)
        tokens = torch.cat([self.cls_token.expand(b, -1, -1), tokens], dim=1)
        return tokens + self.interpolate_pos_embed(grid), grid

    def _run_block(self, block: nn.Module, x: Tensor) -> Tensor:
        # x: (B, 1 + N, D)
        if self.use_checkpoint and self.training and x.requires_grad:
            return checkpoint(block, x, use_reentrant=False)
        return block(x)

    def forward(
        self,
        x: Tensor,
        mask: Tensor | None = None,
        return_layers: Iterable[int] | None = None,
    ) -> EncoderOutput:
        """Encode a volume.

        Args:
            x: ``(B, C, D, H, W)``, sides divisible by ``patch_size``.
            mask: Optional ``(B, N)`` bool of patch tokens replaced by the learned mask token.
            return_layers: 1-based block indices to return in ``layers``; ``None`` uses
                ``self.out_indices``, ``()`` returns none.

        Returns:
            :class:`EncoderOutput` with ``cls_token (B, D)``, ``patch_tokens (B, N, D)``,
            ``layers {i: (B, N, D)}`` and ``grid``.
        """
        wanted = set(self.out_indices if return_layers is None else self._check_out_indices(return_layers, self.depth))
        # x: (B, 1 + N, D)
        x, grid = self.prepare_tokens(x, mask)
        layers: dict[int, Tensor] = {}
        for i, block in enumerate(self.blocks, start=1):
            x = self._run_block(block, x)
            if i in wanted:
                layers[i] = x[:, 1:]
        x = self.norm(x)
        return EncoderOutput(cls_token=x[:, 0], patch_tokens=x[:, 1:], layers=layers, grid=grid)


def _register_preset(name: str) -> None:
    def factory(**overrides: Any) -> VisionTransformer3D:
        return VisionTransformer3D(**{**ENCODER_PRESETS[name], **overrides})

    factory.__name__ = name
    factory.__doc__ = f"Build the ``{name}`` encoder ({ENCODER_PRESETS[name]}); kwargs override."
    ENCODERS.register(name)(factory)


for _name in ENCODER_PRESETS:
    _register_preset(_name)


def build_encoder(name: str, **overrides: Any) -> VisionTransformer3D:
    """Build a registered encoder preset.

    Args:
        name: One of ``ENCODERS.names()`` (e.g. ``"vit3d_tiny"``).
        **overrides: Constructor kwargs replacing the preset's (e.g. ``img_size=(64, 64, 64)``).

    Raises:
        KeyError: Unknown name (the message lists valid names).
    """
    return ENCODERS.get(name)(**overrides)
