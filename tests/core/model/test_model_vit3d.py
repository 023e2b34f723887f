from __future__ import annotations

from typing import Any

import pytest
import torch

from volta_core.model import ENCODER_PRESETS, VisionTransformer3D, build_encoder
from volta_core.model.vit3d import default_out_indices


def expected_params(embed_dim: int, depth: int, patch_size: int, tokens: int, in_chans: int = 1) -> int:
    """Closed form for mlp_ratio 4 with qkv bias: block = 12 D^2 + 13 D."""
    d = embed_dim
    embed = in_chans * patch_size**3 * d + d  # conv weight + bias
    tokens_params = 2 * d + (tokens + 1) * d  # cls + mask token + positions
    return embed + tokens_params + depth * (12 * d * d + 13 * d) + 2 * d  # + final norm


# recorded once; a change here changes every saved checkpoint
RECORDED = {"vit3d_tiny": 3_498_240, "vit3d_small": 6_167_424, "vit3d_base": 22_951_680, "vit3d_large": 88_370_688}


@pytest.mark.parametrize("name", sorted(RECORDED))
def test_preset_parameter_counts(name: str) -> None:
    with torch.device("meta"):
        enc = build_encoder(name)
    n = sum(p.numel() for p in enc.parameters())
    cfg = ENCODER_PRESETS[name]
    assert n == expected_params(cfg["embed_dim"], cfg["depth"], cfg["patch_size"], 6**3)
    assert n == RECORDED[name]


def test_default_out_indices() -> None:
    assert default_out_indices(12) == (3, 6, 9, 12)
    assert default_out_indices(6) == (2, 3, 5, 6)
    assert build_encoder("vit3d_tiny").out_indices == (2, 3, 5, 6)
    assert build_encoder("vit3d_tiny", depth=2, img_size=32).out_indices == (1, 2)


@pytest.mark.parametrize("batch", [1, 2])
@pytest.mark.parametrize("in_chans", [1, 2])
def test_output_shapes(tiny_kwargs: dict[str, Any], batch: int, in_chans: int) -> None:
    enc = VisionTransformer3D(**tiny_kwargs, in_chans=in_chans, out_indices=(2, 4))
    out = enc(torch.randn(batch, in_chans, 32, 32, 32))
    assert out.cls_token.shape == (batch, 48)
    assert out.patch_tokens.shape == (batch, 64, 48)
    assert sorted(out.layers) == [2, 4]
    assert all(v.shape == (batch, 64, 48) for v in out.layers.values())
    assert out.grid == (4, 4, 4)
    assert enc(torch.randn(1, in_chans, 32, 32, 32), return_layers=()).layers == {}


@pytest.mark.parametrize("size", [(96, 96, 96), (64, 80, 48), (64, 64, 64)])
def test_pos_embed_interpolates_to_other_sizes(size: tuple[int, int, int]) -> None:
    enc = VisionTransformer3D(img_size=64, patch_size=16, embed_dim=24, depth=1, num_heads=2)
    out = enc(torch.randn(1, 1, *size), return_layers=())
    grid = tuple(s // 16 for s in size)
    assert out.grid == grid
    assert out.patch_tokens.shape == (1, grid[0] * grid[1] * grid[2], 24)


def test_pos_embed_interpolation_values(tiny_kwargs: dict[str, Any]) -> None:
    enc = VisionTransformer3D(**tiny_kwargs)
    assert enc.interpolate_pos_embed((4, 4, 4)) is enc.pos_embed  # trained grid: untouched
    with torch.no_grad():
        enc.pos_embed.copy_(torch.arange(48.0).expand(1, 65, 48))  # constant over space
    resized = enc.interpolate_pos_embed((6, 2, 5))
    assert resized.shape == (1, 1 + 60, 48)
    torch.testing.assert_close(resized[0, 1:], torch.arange(48.0).expand(60, 48))


@pytest.mark.parametrize("size", [(33, 32, 32), (32, 32, 20), (4, 32, 32)])
def test_non_divisible_size_raises(tiny_kwargs: dict[str, Any], size: tuple[int, int, int]) -> None:
    enc = VisionTransformer3D(**tiny_kwargs)
    with pytest.raises(ValueError, match="not divisible by the patch size 8"):
        enc(torch.randn(1, 1, *size))


@pytest.mark.parametrize(
    "bad",
    [dict(embed_dim=50), dict(num_heads=0), dict(depth=0), dict(img_size=30), dict(out_indices=(5,)),
     dict(drop_path_rate=1.0), dict(patch_size=0)],
)
def test_bad_constructor_args(tiny_kwargs: dict[str, Any], bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        VisionTransformer3D(**{**tiny_kwargs, **bad})


def test_bad_inputs(tiny_kwargs: dict[str, Any]) -> None:
    enc = VisionTransformer3D(**tiny_kwargs)
    with pytest.raises(ValueError, match="input channel"):
        enc(torch.randn(1, 2, 32, 32, 32))
    with pytest.raises(ValueError, match="B, C, D, H, W"):
        enc(torch.randn(1, 32, 32, 32))
    with pytest.raises(ValueError, match="mask"):
        enc(torch.randn(1, 1, 32, 32, 32), mask=torch.zeros(1, 63, dtype=torch.bool))
    with pytest.raises(ValueError, match="mask"):
        enc(torch.randn(1, 1, 32, 32, 32), mask=torch.zeros(1, 64))
    with pytest.raises(ValueError, match="out_indices"):
        enc(torch.randn(1, 1, 32, 32, 32), return_layers=(9,))


def test_mask_token_replaces_masked_tokens(tiny_kwargs: dict[str, Any]) -> None:
    enc = VisionTransformer3D(**tiny_kwargs).eval()
    x = torch.randn(2, 1, 32, 32, 32)
    mask = torch.zeros(2, 64, dtype=torch.bool)
    mask[0, :10] = True
    tokens, _ = enc.prepare_tokens(x, mask)
    pos = enc.pos_embed[0, 1:11]
    torch.testing.assert_close(tokens[0, 1:11], enc.mask_token[0].expand(10, -1) + pos)
    plain, _ = enc.prepare_tokens(x)
    torch.testing.assert_close(tokens[1], plain[1])  # sample 1 had no masked token
    assert not torch.allclose(tokens[0, 1:11], plain[0, 1:11])
    out_masked = enc(x, mask=mask).patch_tokens
    assert not torch.allclose(out_masked[0], enc(x).patch_tokens[0])


def test_layers_are_block_outputs(tiny_kwargs: dict[str, Any]) -> None:
    enc = VisionTransformer3D(**tiny_kwargs).eval()
    x = torch.randn(1, 1, 32, 32, 32)
    out = enc(x, return_layers=(1, 4))
    tokens, _ = enc.prepare_tokens(x)
    after_1 = enc.blocks[0](tokens)
    torch.testing.assert_close(out.layers[1], after_1[:, 1:])
    final = tokens
    for blk in enc.blocks:
        final = blk(final)
    torch.testing.assert_close(out.layers[4], final[:, 1:])
    torch.testing.assert_close(out.patch_tokens, enc.norm(final)[:, 1:])


def test_checkpointing_matches_plain(tiny_kwargs: dict[str, Any]) -> None:
    enc = VisionTransformer3D(**tiny_kwargs)
    enc_ckpt = VisionTransformer3D(**tiny_kwargs, use_checkpoint=True)
    enc_ckpt.load_state_dict(enc.state_dict())
    x = torch.randn(1, 1, 32, 32, 32)
    enc(x).cls_token.sum().backward()
    enc_ckpt(x).cls_token.sum().backward()
    torch.testing.assert_close(enc.blocks[0].attn.qkv.weight.grad, enc_ckpt.blocks[0].attn.qkv.weight.grad)


def test_drop_path_only_in_training(tiny_kwargs: dict[str, Any]) -> None:
    enc = VisionTransformer3D(**tiny_kwargs, drop_path_rate=0.5)
    x = torch.randn(2, 1, 32, 32, 32)
    enc.eval()
    torch.testing.assert_close(enc(x).cls_token, enc(x).cls_token)
    enc.train()
    assert not torch.allclose(enc(x).cls_token, enc(x).cls_token)


def test_build_encoder_overrides_and_unknown() -> None:
    enc = build_encoder("vit3d_tiny", img_size=(32, 48, 32), depth=2)
    assert enc.depth == 2 and enc.grid_size == (2, 3, 2)
    assert enc.config["depth"] == 2
    assert VisionTransformer3D(**{k: v for k, v in enc.config.items()}).grid_size == (2, 3, 2)
    with pytest.raises(KeyError, match="vit3d_tiny"):
        build_encoder("vit3d_huge")
