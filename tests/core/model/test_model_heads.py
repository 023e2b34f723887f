from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

from volta_core.model import (
    ClassificationHead,
    DINOHead,
    ReconstructionDecoder3D,
    UNETRDecoder3D,
    VisionTransformer3D,
    patchify,
)


@pytest.mark.parametrize("shape", [(3, 48), (2, 5, 48)])
@pytest.mark.parametrize("nlayers", [1, 3])
def test_dino_head_shapes(shape: tuple[int, ...], nlayers: int) -> None:
    head = DINOHead(48, out_dim=64, hidden_dim=32, bottleneck_dim=16, nlayers=nlayers)
    assert head(torch.randn(*shape)).shape == (*shape[:-1], 64)


def test_dino_head_last_layer_is_weight_normalised() -> None:
    head = DINOHead(48, out_dim=64, hidden_dim=32, bottleneck_dim=16)
    with torch.no_grad():
        head.last_layer.weight_v.mul_(7.0)
    torch.testing.assert_close(head.last_layer.weight.norm(dim=1), torch.ones(64))
    names = {n for n, _ in head.named_parameters()}
    assert "last_layer.weight_g" not in names  # frozen norm -> buffer
    free = DINOHead(48, out_dim=64, hidden_dim=32, bottleneck_dim=16, norm_last_layer=False)
    assert "last_layer.weight_g" in {n for n, _ in free.named_parameters()}
    # logits are cosine similarities of unit vectors: bounded by 1
    assert head(torch.randn(10, 48)).abs().max() <= 1.0 + 1e-5


def test_dino_head_bad_args() -> None:
    with pytest.raises(ValueError):
        DINOHead(48, out_dim=0)
    with pytest.raises(ValueError):
        DINOHead(48, nlayers=0)


def _encoder(patch: int, depth: int, img: int = 32, taps: tuple[int, ...] | None = None) -> VisionTransformer3D:
    return VisionTransformer3D(img_size=img, patch_size=patch, embed_dim=24, depth=depth, num_heads=2, out_indices=taps)


@pytest.mark.parametrize(
    "patch, taps, size",
    [
        (16, (1, 2, 3, 4), (32, 32, 32)),
        (16, (1, 2, 3, 4), (32, 48, 16)),
        (8, (1, 2, 4), (16, 24, 32)),
        (2, (4,), (8, 6, 4)),
    ],
)
def test_unetr_output_shape(patch: int, taps: tuple[int, ...], size: tuple[int, int, int]) -> None:
    enc = _encoder(patch, depth=4, taps=taps)
    dec = UNETRDecoder3D(24, patch, in_chans=1, num_classes=3, feature_size=4, tap_layers=taps)
    x = torch.randn(2, 1, *size)
    logits = dec(x, enc(x))
    assert logits.shape == (2, 3, *size)
    logits.sum().backward()
    assert enc.blocks[0].attn.qkv.weight.grad is not None  # gradients flow into the encoder


def test_unetr_bad_args() -> None:
    with pytest.raises(ValueError, match="power of two"):
        UNETRDecoder3D(24, 12, tap_layers=(1, 2))
    with pytest.raises(ValueError, match="exactly 4 tap_layers"):
        UNETRDecoder3D(24, 16, tap_layers=(1, 2, 3))
    with pytest.raises(ValueError):
        UNETRDecoder3D(24, 16, num_classes=0)


def test_unetr_missing_layers_and_size_mismatch() -> None:
    enc = _encoder(8, depth=3, taps=(1, 2, 3))
    dec = UNETRDecoder3D(24, 8, feature_size=4, tap_layers=(1, 2, 3))
    x = torch.randn(1, 1, 16, 16, 16)
    with pytest.raises(ValueError, match="return_layers"):
        dec(x, enc(x, return_layers=(1,)))
    with pytest.raises(ValueError, match="does not match the token grid"):
        dec(torch.randn(1, 1, 16, 16, 24), enc(x))


def test_unetr_image_pyramid_starts_as_the_plain_decoder_and_then_opens() -> None:
    """The pyramid's features join through 1^3 convolutions that start at zero: a plain decoder's
    state loads into a pyramid decoder and gives the same logits; one step later the path is open."""
    torch.manual_seed(0)
    enc = _encoder(16, depth=4, taps=(1, 2, 3, 4))
    plain = UNETRDecoder3D(24, 16, num_classes=3, feature_size=4, tap_layers=(1, 2, 3, 4))
    pyramid = UNETRDecoder3D(24, 16, num_classes=3, feature_size=4, tap_layers=(1, 2, 3, 4), image_pyramid=True)
    result = pyramid.load_state_dict(plain.state_dict(), strict=False)
    assert not result.unexpected_keys
    assert result.missing_keys and all(k.startswith(("image_down.", "image_merge.")) for k in result.missing_keys)
    assert [m.block.conv1.out_channels for m in pyramid.image_down] == [8, 16, 32]  # levels 1..3
    x = torch.randn(2, 1, 32, 32, 16)
    feats = enc(x)
    torch.testing.assert_close(pyramid(x, feats), plain(x, feats))
    opt = torch.optim.SGD(pyramid.parameters(), lr=0.1)
    for _ in range(2):
        opt.zero_grad()
        pyramid(x, enc(x)).square().mean().backward()
        opt.step()
    assert all(m.weight.abs().sum() > 0 for m in pyramid.image_merge)
    assert pyramid.image_down[0].down[0].weight.grad.abs().sum() > 0  # the image path now learns
    assert not torch.allclose(pyramid(x, feats), plain(x, feats))


@pytest.mark.parametrize("use_patch_mean", [True, False])
@pytest.mark.parametrize("hidden_dim", [None, 16])
def test_classifier_shapes(use_patch_mean: bool, hidden_dim: int | None) -> None:
    head = ClassificationHead(48, num_classes=3, use_patch_mean=use_patch_mean, hidden_dim=hidden_dim, dropout=0.1)
    assert head(torch.randn(4, 48), torch.randn(4, 10, 48)).shape == (4, 3)
    linears = [m for m in head.modules() if isinstance(m, nn.Linear)]
    assert len(linears) == (1 if hidden_dim is None else 2)
    assert linears[0].in_features == (96 if use_patch_mean else 48)


def test_classifier_uses_patch_mean() -> None:
    head = ClassificationHead(8, num_classes=2, use_patch_mean=True).eval()
    cls, patches = torch.randn(1, 8), torch.randn(1, 5, 8)
    shuffled = patches[:, torch.randperm(5)]
    torch.testing.assert_close(head(cls, patches), head(cls, shuffled))  # order-invariant mean
    assert not torch.allclose(head(cls, patches), head(cls, patches + 1.0 * torch.randn(1, 1, 8)))
    with pytest.raises(ValueError, match="patch_tokens"):
        head(cls)
    with pytest.raises(ValueError):
        ClassificationHead(8, dropout=1.0)


@pytest.mark.parametrize("hidden_dim", [None, 32])
def test_recon_decoder_shape_and_layout(hidden_dim: int | None) -> None:
    dec = ReconstructionDecoder3D(48, patch_size=4, out_chans=2, hidden_dim=hidden_dim)
    vol = dec(torch.randn(3, 2 * 3 * 1, 48), (2, 3, 1))
    assert vol.shape == (3, 2, 8, 12, 4)
    # the voxels of token i are exactly row i of the projection
    tokens = torch.randn(1, 6, 48)
    torch.testing.assert_close(patchify(dec(tokens, (2, 3, 1)), 4), dec.proj(tokens))
    with pytest.raises(ValueError):
        dec(torch.randn(1, 5, 48), (2, 3, 1))


def test_patchify_roundtrip_and_token_order(tiny_kwargs: dict[str, Any]) -> None:
    from volta_core.model import unpatchify

    x = torch.randn(2, 3, 8, 12, 16)
    torch.testing.assert_close(unpatchify(patchify(x, 4), (2, 3, 4), 4, 3), x)
    # patchify's token order matches the encoder's conv patch embedding order
    enc = VisionTransformer3D(**{**tiny_kwargs, "img_size": (16, 24, 32)})
    vol = torch.randn(1, 1, 16, 24, 32)
    conv_tokens = enc.patch_embed(vol).flatten(2).transpose(1, 2)
    w = enc.patch_embed.weight.permute(0, 2, 3, 4, 1).reshape(48, -1)  # (D, p^3 * C) in patchify layout
    torch.testing.assert_close(conv_tokens, patchify(vol, 8) @ w.T + enc.patch_embed.bias, rtol=1e-4, atol=1e-4)
