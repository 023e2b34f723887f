"""UNETR-style 3D segmentation decoder (Hatamizadeh et al. 2022; MONAI ``nets/unetr.py``).

Tapped encoder blocks are reshaped to 3D feature maps at 1/p resolution and brought
up with transposed convolutions to the resolutions 1/2 ... 1/2^(k-1) (patch p = 2^k);
a convolutional path on the image itself supplies full-resolution detail. The deepest
tap is decoded upward, concatenating one skip per level, to logits at input size.

With ``image_pyramid`` the image path goes on downward (strided convolutions, as a U-Net
encoder) and adds its features to the token skips at levels 1 ... k-1, so those levels see
the image at their own resolution instead of only tokens brought up from 1/p. Each addition
passes a 1^3 convolution that starts at zero: a decoder without the pyramid loads into one
with it and computes exactly what it computed before, and fine-tuning opens the path.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from volta_core.model.vit3d import EncoderOutput
from volta_core.registry import HEADS

__all__ = ["UNETRDecoder3D", "ConvBlock3D"]


class ConvBlock3D(nn.Module):
    """Residual block: (3^3 conv -> InstanceNorm -> LeakyReLU) x 2 with a 1^3 projection skip.

    Args:
        in_ch: Input channels.
        out_ch: Output channels.
    """

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv3d(in_ch, out_ch, 3, padding=1, bias=False)
        self.norm1 = nn.InstanceNorm3d(out_ch, affine=True)
        self.conv2 = nn.Conv3d(out_ch, out_ch, 3, padding=1, bias=False)
        self.norm2 = nn.InstanceNorm3d(out_ch, affine=True)
        self.act = nn.LeakyReLU(0.01, inplace=True)
        self.skip = nn.Identity() if in_ch == out_ch else nn.Sequential(
            nn.Conv3d(in_ch, out_ch, 1, bias=False), nn.InstanceNorm3d(out_ch, affine=True)
        )

    def forward(self, x: Tensor) -> Tensor:
        # x: (B, in_ch, D, H, W) -> (B, out_ch, D, H, W)
        y = self.act(self.norm1(self.conv1(x)))
        y = self.norm2(self.conv2(y))
        return self.act(y + self.skip(x))


def _up(in_ch: int, out_ch: int) -> nn.ConvTranspose3d:
    """x2 transposed convolution."""
    return nn.ConvTranspose3d(in_ch, out_ch, kernel_size=2, stride=2)


class TokenSkip(nn.Module):
    """Bring a token map at 1/p up ``n_up`` times (x2 each) to ``out_ch`` channels."""

    def __init__(self, in_ch: int, out_ch: int, n_up: int) -> None:
        super().__init__()
        layers: list[nn.Module] = [_up(in_ch, out_ch)]
        for _ in range(n_up - 1):
            layers += [ConvBlock3D(out_ch, out_ch), _up(out_ch, out_ch)]
        layers.append(ConvBlock3D(out_ch, out_ch))
        self.body = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        # x: (B, in_ch, g0, g1, g2) -> (B, out_ch, g0*2^n, g1*2^n, g2*2^n)
        return self.body(x)


class UpBlock(nn.Module):
    """x2 upsample, concatenate the skip, residual conv block."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.up = _up(in_ch, out_ch)
        self.block = ConvBlock3D(2 * out_ch, out_ch)

    def forward(self, x: Tensor, skip: Tensor) -> Tensor:
        # x: (B, in_ch, d, h, w); skip: (B, out_ch, 2d, 2h, 2w)
        return self.block(torch.cat([self.up(x), skip], dim=1))


@HEADS.register("unetr")
class ImageDown(nn.Module):
    """x1/2 strided convolution (InstanceNorm, LeakyReLU) and a residual conv block."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.down = nn.Sequential(nn.Conv3d(in_ch, out_ch, kernel_size=2, stride=2, bias=False),
                                  nn.InstanceNorm3d(out_ch, affine=True), nn.LeakyReLU(0.01, inplace=True))
        self.block = ConvBlock3D(out_ch, out_ch)

    def forward(self, x: Tensor) -> Tensor:
        # x: (B, in_ch, D, H, W) -> (B, out_ch, D/2, H/2, W/2)
        return self.block(self.down(x))


def _zero_conv(ch: int) -> nn.Conv3d:
    """1^3 convolution initialised to output zeros (the pyramid starts switched off)."""
    conv = nn.Conv3d(ch, ch, kernel_size=1)
    nn.init.zeros_(conv.weight)
    nn.init.zeros_(conv.bias)
    return conv


class UNETRDecoder3D(nn.Module):
    """UNETR decoder producing per-voxel logits at input resolution.

    For patch ``p = 2^k`` there are ``k + 1`` resolution levels: level 0 (full size,
    from an image conv path), levels ``1..k-1`` (skips from ``tap_layers[:-1]``) and
    level ``k`` (the token grid, from ``tap_layers[-1]``). So ``len(tap_layers) == k``
    (4 taps for patch 16, 3 for patch 8). Level ``j`` has ``feature_size * 2^j``
    channels.

    Args:
        encoder_dim: Encoder token width ``D``.
        patch_size: Encoder patch edge, a power of two >= 2.
        in_chans: Image channels.
        num_classes: Output classes (0 background, 1 left, 2 right hippocampus).
        feature_size: Channels at full resolution (16 as UNETR; on CPU prefer 8: the
            full-resolution convolutions dominate and cost ~feature_size^2).
        tap_layers: 1-based encoder block indices, shallow to deep; the encoder must
            return them (``encoder(x, return_layers=decoder.tap_layers)``).
        image_pyramid: Add image features computed at levels 1 ... k-1 (strided
            convolutions from the full-resolution path) to the token skips there.

    Raises:
        ValueError: Patch not a power of two, wrong number of taps, non-positive sizes.
    """

    def __init__(
        self,
        encoder_dim: int,
        patch_size: int,
        in_chans: int = 1,
        num_classes: int = 3,
        feature_size: int = 16,
        tap_layers: Sequence[int] = (3, 6, 9, 12),
        image_pyramid: bool = False,
    ) -> None:
        super().__init__()
        for name, v in dict(encoder_dim=encoder_dim, in_chans=in_chans, num_classes=num_classes,
                            feature_size=feature_size).items():
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}.")
        if patch_size < 2 or patch_size & (patch_size - 1):
            raise ValueError(f"patch_size must be a power of two >= 2, got {patch_size}.")
        k = int(math.log2(patch_size))
        taps = tuple(int(t) for t in tap_layers)
        if len(taps) != k:
            raise ValueError(
                f"patch_size {patch_size} = 2^{k} needs exactly {k} tap_layers "
                f"(shallow skips then the deepest block), got {taps}."
            )
        self.encoder_dim, self.patch_size, self.in_chans = encoder_dim, patch_size, in_chans
        self.num_classes, self.feature_size, self.tap_layers = num_classes, feature_size, taps
        self.n_levels = k
        chans = [feature_size * 2**j for j in range(k)]  # level j channels, j < k
        self.image_path = ConvBlock3D(in_chans, chans[0])
        # skip for level j (1..k-1) from taps[j-1], upsampled k - j times
        self.token_skips = nn.ModuleList(TokenSkip(encoder_dim, chans[j], k - j) for j in range(1, k))
        # decoder: level k (D ch) -> level k-1 ... -> level 0
        self.up_blocks = nn.ModuleList(
            UpBlock(encoder_dim if j == k - 1 else chans[j + 1], chans[j]) for j in reversed(range(k))
        )
        self.out = nn.Conv3d(chans[0], num_classes, kernel_size=1)
        self.image_pyramid = bool(image_pyramid)
        if self.image_pyramid:
            # level j (1..k-1): image features from level j-1's, added through a zero-started 1^3 conv
            self.image_down = nn.ModuleList(ImageDown(chans[j - 1], chans[j]) for j in range(1, k))
            self.image_merge = nn.ModuleList(_zero_conv(chans[j]) for j in range(1, k))

    @staticmethod
    def tokens_to_map(tokens: Tensor, grid: Sequence[int]) -> Tensor:
        """``(B, N, D)`` tokens -> ``(B, D, gD, gH, gW)`` feature map."""
        b, n, d = tokens.shape
        return tokens.transpose(1, 2).reshape(b, d, *grid)

    def _check(self, image: Tensor, feats: EncoderOutput) -> None:
        missing = [t for t in self.tap_layers if t not in feats.layers]
        if missing:
            raise ValueError(
                f"encoder output lacks tapped layers {missing}; call the encoder with "
                f"return_layers={self.tap_layers}."
            )
        expected = tuple(g * self.patch_size for g in feats.grid)
        if image.ndim != 5 or tuple(image.shape[2:]) != expected:
            raise ValueError(
                f"image shape {tuple(image.shape)} does not match the token grid {feats.grid} "
                f"x patch {self.patch_size} = {expected}."
            )

    def forward(self, image: Tensor, feats: EncoderOutput) -> Tensor:
        """Decode logits.

        Args:
            image: ``(B, C, D, H, W)`` encoder input.
            feats: Encoder output containing ``layers[t]`` for every ``t`` in ``tap_layers``.

        Returns:
            Logits ``(B, num_classes, D, H, W)``.
        """
        self._check(image, feats)
        # skips[j]: (B, fs*2^j, D/2^j, H/2^j, W/2^j) for j = 0..k-1
        skips = [self.image_path(image)]
        level = skips[0]  # the image path at the current level (pyramid only)
        for j, tap in enumerate(self.tap_layers[:-1], start=1):
            skip = self.token_skips[j - 1](self.tokens_to_map(feats.layers[tap], feats.grid))
            if self.image_pyramid:
                level = self.image_down[j - 1](level)
                skip = skip + self.image_merge[j - 1](level)
            skips.append(skip)
        # x: (B, D_enc, gD, gH, gW)
        x = self.tokens_to_map(feats.layers[self.tap_layers[-1]], feats.grid)
        for block, skip in zip(self.up_blocks, reversed(skips)):
            x = block(x, skip)
        return self.out(x)
