from __future__ import annotations

import copy
from typing import Any

import pytest
import torch
from torch import nn

from volta_core.model import NonFiniteLossError, VoltaSSL, VoltaSSLConfig, token_mask_to_voxel_mask

ENC = dict(img_size=32, patch_size=8, embed_dim=24, depth=2, num_heads=2)
HEAD = dict(head_out_dim=32, head_hidden_dim=16, head_bottleneck_dim=8)


def make_model(**overrides: Any) -> VoltaSSL:
    return VoltaSSL("vit3d_tiny", encoder_overrides=dict(ENC), **{**HEAD, **overrides})


def make_batch(b: int = 2, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    views = torch.randn(2 * b, 1, 32, 32, 32, generator=g)
    masks = torch.rand(2 * b, 64, generator=g) < 0.5
    vox = token_mask_to_voxel_mask(masks, (4, 4, 4), 8)
    noise = torch.randn(views.shape, generator=g)
    return dict(global_views=views, masked_views=torch.where(vox, noise, views), token_masks=masks)


def test_forward_returns_named_losses() -> None:
    model = make_model()
    out = model(make_batch(), teacher_temp=0.04)
    for key in ("loss", "loss_global", "loss_local", "loss_recon", "teacher_entropy", "teacher_feature_dim",
                "teacher_patch_entropy", "mask_ratio", "teacher_temp"):
        assert key in out and out[key].ndim == 0 and torch.isfinite(out[key])
    expected = out["loss_global"] + out["loss_local"] + out["loss_recon"]
    torch.testing.assert_close(out["loss"].detach(), expected)
    assert out["loss"].requires_grad and not out["loss_global"].requires_grad
    assert set(model.student) == {"encoder", "dino_head", "ibot_head", "recon_decoder"}
    assert set(model.teacher) == {"encoder", "dino_head", "ibot_head"}


def test_gradients_reach_student_not_teacher_and_steps_reduce_loss() -> None:
    model = make_model()
    batch = make_batch()
    assert not any(p.requires_grad for p in model.teacher.parameters())
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    teacher_before = copy.deepcopy(model.teacher.state_dict())
    losses = []
    for _ in range(4):
        out = model(batch, teacher_temp=0.04)
        out["loss"].backward()
        if not losses:
            assert all(p.grad is None for p in model.teacher.parameters())
            for key in ("encoder", "dino_head", "ibot_head", "recon_decoder"):
                assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.student[key].parameters()), key
        opt.step()
        opt.zero_grad()
        losses.append(out["loss"].item())
    for k, v in model.teacher.state_dict().items():  # optimiser never touched the teacher
        torch.testing.assert_close(v, teacher_before[k])
    assert losses[-1] < losses[0]


def test_update_teacher_is_exact_ema() -> None:
    model = make_model()
    with torch.no_grad():
        for p in model.student.parameters():
            p.add_(torch.randn_like(p))
    m = 0.9
    t_before = {k: v.clone() for k, v in model.teacher.named_parameters()}
    s_now = dict(model.student.named_parameters())
    model.update_teacher(m)
    for name, t in model.teacher.named_parameters():
        torch.testing.assert_close(t, m * t_before[name] + (1 - m) * s_now[name], rtol=0, atol=1e-6)
    model.update_teacher(0.0)
    for name, t in model.teacher.named_parameters():
        assert torch.equal(t, s_now[name])
    with pytest.raises(ValueError):
        model.update_teacher(1.5)


def test_update_teacher_unwraps_ddp_like_wrappers() -> None:
    class Wrapper(nn.Module):
        def __init__(self, module: nn.Module) -> None:
            super().__init__()
            self.module = module

    model = make_model()
    with torch.no_grad():
        for p in model.student.parameters():
            p.fill_(0.5)
    model.student["encoder"] = Wrapper(model.student["encoder"])
    model.update_teacher(0.0)
    assert all(torch.equal(p, torch.full_like(p, 0.5)) for p in model.teacher["encoder"].parameters())
    assert model.student_encoder is model.student["encoder"].module


@pytest.mark.parametrize("off", ["w_global", "w_local", "w_recon"])
def test_zero_weight_removes_term(off: str) -> None:
    model = make_model(**{off: 0.0})
    out = model(make_batch(), teacher_temp=0.04)
    term = {"w_global": "loss_global", "w_local": "loss_local", "w_recon": "loss_recon"}[off]
    assert out[term].item() == 0.0
    others = [k for k in ("loss_global", "loss_local", "loss_recon") if k != term]
    torch.testing.assert_close(out["loss"].detach(), sum(out[k] for k in others))
    out["loss"].backward()
    unused = {"w_global": "dino_head", "w_local": "ibot_head", "w_recon": "recon_decoder"}[off]
    assert all(p.grad is None for p in model.student[unused].parameters())


def test_global_only_needs_no_masks() -> None:
    model = make_model(w_local=0.0, w_recon=0.0)
    batch = make_batch()
    out = model({"global_views": batch["global_views"]}, teacher_temp=0.04)
    assert out["loss"].item() == pytest.approx(out["loss_global"].item())
    with pytest.raises(ValueError, match="masked_views"):
        make_model()({"global_views": batch["global_views"]}, teacher_temp=0.04)


def test_bad_config_and_batch() -> None:
    with pytest.raises(ValueError, match="nothing to train"):
        make_model(w_global=0.0, w_local=0.0, w_recon=0.0)
    with pytest.raises(ValueError, match="unknown VoltaSSL option"):
        make_model(w_foo=1.0)
    with pytest.raises(ValueError, match="mask_mode"):
        make_model(mask_mode="pixels")
    model = make_model()
    batch = make_batch()
    with pytest.raises(ValueError, match="two views"):
        model({**batch, "global_views": batch["global_views"][:3]}, 0.04)
    with pytest.raises(ValueError, match="token_masks"):
        model({**batch, "token_masks": batch["token_masks"].float()}, 0.04)


def test_non_finite_loss_names_the_term() -> None:
    model = make_model(w_global=0.0, w_local=0.0)
    batch = make_batch()
    batch["global_views"][0, 0, 0, 0, 0] = float("nan")  # recon target -> NaN
    with pytest.raises(NonFiniteLossError, match="loss_recon") as info:
        model(batch, teacher_temp=0.04)
    assert isinstance(info.value, FloatingPointError) and info.value.term == "loss_recon"


def test_centres_update_only_in_training() -> None:
    model = make_model()
    batch = make_batch()
    model.eval()
    model(batch, 0.04)
    assert model.dino_loss.center.abs().sum() == 0 and model.ibot_loss.center.abs().sum() == 0
    model.train()
    assert not model.teacher.training  # teacher stays in eval
    model(batch, 0.04)
    assert model.dino_loss.center.abs().sum() > 0 and model.ibot_loss.center.abs().sum() > 0


def test_token_mask_mode_ignores_masked_views() -> None:
    model = make_model(mask_mode="token").eval()
    batch = make_batch()
    out1 = model(batch, 0.04)
    out2 = model({**batch, "masked_views": torch.zeros_like(batch["masked_views"])}, 0.04)
    torch.testing.assert_close(out1["loss"], out2["loss"])
    assert model.student["encoder"].mask_token.requires_grad
    assert not make_model().student["encoder"].mask_token.requires_grad  # unused in input mode


def test_shared_head_and_local_views() -> None:
    model = make_model(ibot_separate_head=False)
    assert "ibot_head" not in model.student and "ibot_head" not in model.teacher
    batch = make_batch(b=2)
    batch["local_views"] = torch.randn(2 * 2, 1, 16, 16, 16)  # two small crops per sample
    out = model(batch, teacher_temp=0.04)
    assert torch.isfinite(out["loss_global"])
    with pytest.raises(ValueError, match="local_views"):
        model({**batch, "local_views": torch.randn(3, 1, 16, 16, 16)}, 0.04)


def test_built_from_module_and_config_roundtrip() -> None:
    from volta_core.model import build_encoder

    cfg = VoltaSSLConfig(**HEAD, w_recon=0.5)
    model = VoltaSSL(build_encoder("vit3d_tiny", **ENC), cfg)
    assert model.cfg.w_recon == 0.5 and cfg.to_dict()["w_recon"] == 0.5
    assert model.teacher_encoder is not model.student_encoder
    for (n1, p1), (n2, p2) in zip(model.teacher_encoder.named_parameters(), model.student_encoder.named_parameters()):
        assert n1 == n2 and torch.equal(p1, p2)


def test_clean_global_pass_option() -> None:
    batch = make_batch()
    torch.manual_seed(1)
    on_masked = make_model()
    torch.manual_seed(1)
    on_clean = make_model(global_on_masked=False)
    out_m, out_c = on_masked(batch, 0.04), on_clean(batch, 0.04)
    torch.testing.assert_close(out_m["loss_local"], out_c["loss_local"])  # same weights, same masked pass
    assert not torch.allclose(out_m["loss_global"], out_c["loss_global"])  # student cls from another input


def test_runs_under_bf16_autocast() -> None:
    model = make_model()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(make_batch(), teacher_temp=0.04)
    assert out["loss"].dtype == torch.float32 and torch.isfinite(out["loss"])
    out["loss"].backward()
    assert model.student["encoder"].blocks[0].attn.qkv.weight.grad is not None


def test_feature_dimension_tells_a_collapsed_backbone_from_a_spread_one() -> None:
    from volta_core.model.ssl.volta_meta_arch import feature_dimension

    g = torch.Generator().manual_seed(0)
    spread = torch.randn(64, 16, generator=g)
    line = torch.randn(64, 1, generator=g) * torch.randn(1, 16, generator=g) + 3.0  # every sample on one line
    assert float(feature_dimension(spread)) > 10
    assert float(feature_dimension(line)) == pytest.approx(1.0, abs=1e-4)
    assert float(feature_dimension(torch.ones(8, 16))) == 0.0  # identical samples: no spread at all
    assert torch.isnan(feature_dimension(torch.full((8, 16), float("nan"))))  # diverged: NaN, not an SVD error


# KoLeo: spread the backbone's class tokens (the dimensional collapse of the real-scan run) -----------

def test_koleo_is_low_for_spread_features_and_high_for_collapsed_ones() -> None:
    from volta_core.model.ssl.koleo_loss import koleo_loss

    spread = torch.eye(8, 16)  # 8 orthonormal directions: nearest neighbour at sqrt(2)
    torch.testing.assert_close(koleo_loss(spread), torch.tensor(-0.5 * float(torch.log(torch.tensor(2.0)))))
    line = torch.ones(8, 16) + 1e-3 * torch.randn(8, 16)  # all on about one direction
    assert koleo_loss(line) > koleo_loss(spread) + 3.0
    with pytest.raises(ValueError, match="N >= 2"):
        koleo_loss(torch.ones(1, 16))


def test_koleo_term_is_weighted_into_the_loss_and_pushes_class_tokens_apart() -> None:
    torch.manual_seed(0)
    off = make_model()
    assert "loss_koleo" not in off(make_batch(b=4), teacher_temp=0.04)  # off by default: no change
    model = make_model(w_koleo=0.5)
    out = model(make_batch(b=4), teacher_temp=0.04)
    expected = out["loss_global"] + out["loss_local"] + out["loss_recon"] + 0.5 * out["loss_koleo"]
    torch.testing.assert_close(out["loss"].detach(), expected)
    assert torch.isfinite(out["student_feature_dim"])
    # the KoLeo term alone, minimised: the student's class tokens spread (their nearest-neighbour
    # distances grow), which is what the weighted term adds to the VolTA objective
    only = make_model(w_global=0.0, w_local=0.0, w_recon=1e-6, w_koleo=1.0)
    opt = torch.optim.AdamW([p for p in only.student.parameters() if p.requires_grad], lr=3e-3)
    batch = make_batch(b=4, seed=1)
    first = only(batch, teacher_temp=0.04)["loss_koleo"].item()
    for _ in range(15):
        step = only(batch, teacher_temp=0.04)
        step["loss"].backward()
        opt.step()
        opt.zero_grad()
    assert only(batch, teacher_temp=0.04)["loss_koleo"].item() < first
    with pytest.raises(ValueError, match="w_koleo"):
        make_model(w_koleo=-1.0)
    lone = make_model(w_koleo=0.5)(make_batch(b=1), teacher_temp=0.04)  # one scan: no neighbour, no term
    assert "loss_koleo" not in lone and torch.isfinite(lone["loss"])
