from __future__ import annotations

from typing import Any

import pytest
import torch

from volta_core.model import (
    ClassificationHead,
    UNETRDecoder3D,
    VisionTransformer3D,
    VoltaClassifier,
    VoltaSegmenter,
    build_classifier,
    build_segmenter,
    freeze_encoder,
    param_groups_lrd,
)


def test_segmenter_and_classifier_outputs(tiny_kwargs: dict[str, Any]) -> None:
    seg = build_segmenter(VisionTransformer3D(**tiny_kwargs), num_classes=3, feature_size=4)
    assert seg.decoder.tap_layers == (2, 3, 4)  # last 3 of the encoder's (1, 2, 3, 4)
    x = torch.randn(2, 1, 32, 32, 32)
    out = seg(x)
    assert set(out) == {"logits"} and out["logits"].shape == (2, 3, 32, 32, 32)
    clf = build_classifier("vit3d_tiny", num_classes=2, img_size=32, patch_size=8, embed_dim=24, num_heads=2, depth=2)
    assert clf(x)["logits"].shape == (2, 2)


def test_forward_with_features_is_forward_plus_the_encoder_outputs(tiny_kwargs: dict[str, Any]) -> None:
    from volta_core.model.networks import VoltaMultiTask

    encoder = VisionTransformer3D(**tiny_kwargs)
    decoder = UNETRDecoder3D(48, 8, num_classes=3, feature_size=4, tap_layers=(2, 3, 4))
    x = torch.randn(1, 1, 32, 32, 32)
    for net in (VoltaSegmenter(encoder, decoder), VoltaClassifier(encoder, ClassificationHead(48)),
                VoltaMultiTask(encoder, decoder, {"sex": ClassificationHead(48)})):
        net.eval()
        with torch.no_grad():
            feats, out = net.forward_with_features(x)
            plain = net(x)
            direct = encoder(x, return_layers=())
        assert set(out) == set(plain) and all(torch.equal(out[k], plain[k]) for k in out)
        assert feats.cls_token.shape == (1, 48) and feats.patch_tokens.shape == (1, 64, 48)
        assert torch.allclose(feats.cls_token, direct.cls_token)


def test_mismatched_parts_rejected(tiny_kwargs: dict[str, Any]) -> None:
    enc = VisionTransformer3D(**tiny_kwargs)
    with pytest.raises(ValueError, match="does not fit"):
        VoltaSegmenter(enc, UNETRDecoder3D(48, 16, tap_layers=(1, 2, 3, 4)))
    with pytest.raises(ValueError, match="outside"):
        VoltaSegmenter(enc, UNETRDecoder3D(48, 8, tap_layers=(1, 2, 9)))
    with pytest.raises(ValueError, match="embed_dim"):
        VoltaClassifier(enc, ClassificationHead(32))
    with pytest.raises(ValueError, match="fewer than the 3 taps"):
        build_segmenter(VisionTransformer3D(**{**tiny_kwargs, "out_indices": (2, 4)}))


def test_freeze_encoder(tiny_kwargs: dict[str, Any]) -> None:
    clf = VoltaClassifier(VisionTransformer3D(**tiny_kwargs), ClassificationHead(48))
    assert freeze_encoder(clf) is clf
    assert not any(p.requires_grad for p in clf.encoder.parameters())
    assert all(p.requires_grad for p in clf.head.parameters())
    clf(torch.randn(1, 1, 32, 32, 32))["logits"].sum().backward()
    assert all(p.grad is None for p in clf.encoder.parameters())
    assert clf.head.mlp[1].weight.grad is not None
    freeze_encoder(clf, freeze=False)
    assert all(p.requires_grad for p in clf.encoder.parameters())
    with pytest.raises(ValueError, match="no VisionTransformer3D"):
        freeze_encoder(torch.nn.Linear(2, 2))


def test_layer_decay_groups(tiny_kwargs: dict[str, Any]) -> None:
    clf = VoltaClassifier(VisionTransformer3D(**tiny_kwargs), ClassificationHead(48))
    base, decay, depth = 1e-3, 0.5, 4
    groups = param_groups_lrd(clf, base_lr=base, weight_decay=0.05, layer_decay=decay)
    by_name = {n: g for g in groups for n in g["param_names"]}
    # every trainable parameter in exactly one group
    assert sorted(by_name) == sorted(n for n, p in clf.named_parameters() if p.requires_grad)
    assert sum(len(g["params"]) for g in groups) == len(by_name)

    def lr(name: str) -> float:
        return by_name[name]["lr"]

    assert lr("encoder.patch_embed.weight") == pytest.approx(base * decay ** (depth + 1))
    assert lr("encoder.pos_embed") == pytest.approx(base * decay ** (depth + 1))
    assert lr("encoder.cls_token") == pytest.approx(base * decay ** (depth + 1))
    for i in range(depth):
        assert lr(f"encoder.blocks.{i}.attn.qkv.weight") == pytest.approx(base * decay ** (depth - i))
    assert lr("encoder.norm.weight") == pytest.approx(base)
    assert lr("head.mlp.1.weight") == pytest.approx(base)
    # weight decay only on >= 2-D weights that are not positions / tokens
    assert by_name["encoder.blocks.0.attn.qkv.weight"]["weight_decay"] == 0.05
    for name in ("encoder.blocks.0.attn.qkv.bias", "encoder.norm.weight", "encoder.pos_embed", "encoder.cls_token"):
        assert by_name[name]["weight_decay"] == 0.0 and by_name[name]["wd_scale"] == 0.0
    extra = param_groups_lrd(clf, base, 0.05, decay, no_weight_decay_names=["head.mlp.1.weight"])
    assert {n: g for g in extra for n in g["param_names"]}["head.mlp.1.weight"]["weight_decay"] == 0.0
    torch.optim.AdamW(groups)  # accepted by a real optimiser


def test_layer_decay_skips_frozen_and_checks_args(tiny_kwargs: dict[str, Any]) -> None:
    clf = freeze_encoder(VoltaClassifier(VisionTransformer3D(**tiny_kwargs), ClassificationHead(48)))
    groups = param_groups_lrd(clf, 1e-3, 0.05, 0.75)
    names = [n for g in groups for n in g["param_names"]]
    assert names and all(n.startswith("head.") for n in names)
    with pytest.raises(ValueError):
        param_groups_lrd(clf, 1e-3, 0.05, 0.0)
    with pytest.raises(ValueError):
        param_groups_lrd(clf, -1.0, 0.05, 0.5)


def test_state_dicts_roundtrip_through_safetensors(tmp_path: Any, tiny_kwargs: dict[str, Any]) -> None:
    from safetensors.torch import load_file, save_file

    from volta_core.model import VoltaSSL

    seg = build_segmenter(VisionTransformer3D(**tiny_kwargs), feature_size=4)
    ssl = VoltaSSL(VisionTransformer3D(**tiny_kwargs), head_out_dim=16, head_hidden_dim=8, head_bottleneck_dim=8,
                   ibot_separate_head=False)
    for i, model in enumerate((seg, ssl)):
        path = tmp_path / f"m{i}.safetensors"
        save_file(model.state_dict(), str(path))  # fails on shared or non-contiguous tensors
        loaded = load_file(str(path))
        assert loaded.keys() == model.state_dict().keys()
        model.load_state_dict(loaded)
    x = torch.randn(1, 1, 32, 32, 32)
    twin = build_segmenter(VisionTransformer3D(**tiny_kwargs), feature_size=4)
    twin.load_state_dict(load_file(str(tmp_path / "m0.safetensors")))
    seg.eval(), twin.eval()
    torch.testing.assert_close(seg(x)["logits"], twin(x)["logits"])
