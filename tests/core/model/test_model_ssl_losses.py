from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from volta_core.model import DINOClsTokenLoss, IBOTPatchLoss, ReconstructionLoss, token_mask_to_voxel_mask

K = 16


def _ce(p_t: torch.Tensor, s: torch.Tensor, st: float) -> torch.Tensor:
    return -(p_t * F.log_softmax(s / st, dim=-1)).sum(-1).mean()


def test_dino_identical_confident_views_give_zero() -> None:
    loss = DINOClsTokenLoss(K, student_temp=0.1)
    onehot = F.one_hot(torch.tensor([3, 7, 1]), K).float() * 20.0  # (B=3, K)
    views = [onehot, onehot]
    assert loss(views, views, teacher_temp=0.04).item() == pytest.approx(0.0, abs=1e-6)
    other = F.one_hot(torch.tensor([4, 8, 2]), K).float() * 20.0
    assert loss([onehot, other], [onehot, other], teacher_temp=0.04).item() > 100.0


def test_dino_matching_distributions_give_teacher_entropy() -> None:
    st, tt = 0.1, 0.05
    loss = DINOClsTokenLoss(K, student_temp=st)
    t = torch.randn(4, K)
    s = t * st / tt  # student softmax == teacher softmax
    p = F.softmax(t / tt, dim=-1)
    entropy = -(p * p.log()).sum(-1).mean()
    value = loss([s, s], [t, t], teacher_temp=tt)
    assert value.item() == pytest.approx(entropy.item(), rel=1e-5)
    assert loss([s, s + torch.randn(4, K)], [t, t], teacher_temp=tt) > value


def test_dino_excludes_same_view_pairs_and_handles_local_views() -> None:
    st, tt = 0.1, 0.07
    loss = DINOClsTokenLoss(K, student_temp=st)
    t0, t1 = torch.randn(2, K), torch.randn(2, K)
    s0, s1, s2 = torch.randn(2, K), torch.randn(2, K), torch.randn(2, K)
    p0, p1 = F.softmax(t0 / tt, -1), F.softmax(t1 / tt, -1)
    expected = (_ce(p0, s1, st) + _ce(p1, s0, st)) / 2
    torch.testing.assert_close(loss([s0, s1], [t0, t1], tt), expected)
    # a third (local) student view pairs with both teacher views
    expected3 = (_ce(p0, s1, st) + _ce(p0, s2, st) + _ce(p1, s0, st) + _ce(p1, s2, st)) / 4
    torch.testing.assert_close(loss([s0, s1, s2], [t0, t1], tt), expected3)


def test_dino_layouts_agree_and_need_batch_size() -> None:
    loss = DINOClsTokenLoss(K)
    s, t = torch.randn(2, 3, K), torch.randn(2, 3, K)
    ref = loss(list(s), list(t), 0.04)
    torch.testing.assert_close(loss(s, t, 0.04), ref)
    torch.testing.assert_close(loss(s.reshape(6, K), t.reshape(6, K), 0.04, batch_size=3), ref)
    with pytest.raises(ValueError, match="batch_size"):
        loss(s.reshape(6, K), t.reshape(6, K), 0.04)
    with pytest.raises(ValueError, match="out_dim"):
        loss(torch.randn(2, 3, K + 1), torch.randn(2, 3, K + 1), 0.04)
    with pytest.raises(ValueError, match="two views"):
        loss([s[0]], [t[0]], 0.04)
    with pytest.raises(ValueError, match="teacher_temp"):
        loss(s, t, 0.0)


@pytest.mark.parametrize("loss_cls", [DINOClsTokenLoss, IBOTPatchLoss])
def test_center_ema_arithmetic(loss_cls: type) -> None:
    m = 0.9
    loss = loss_cls(K, center_momentum=m)
    a, b = torch.randn(6, K), torch.randn(5, K)
    loss.update_center(a)
    torch.testing.assert_close(loss.center, (1 - m) * a.mean(0, keepdim=True))
    expected = m * loss.center.clone() + (1 - m) * b.mean(0, keepdim=True)
    loss.update_center(b)
    torch.testing.assert_close(loss.center, expected)
    # the centre is subtracted before sharpening
    t = torch.randn(3, K)
    torch.testing.assert_close(loss.teacher_probs(t, 0.05), F.softmax((t - loss.center) / 0.05, dim=-1))


def test_dino_student_gets_gradient_teacher_none() -> None:
    loss = DINOClsTokenLoss(K)
    s = torch.randn(4, K, requires_grad=True)
    t = torch.randn(4, K, requires_grad=True)
    loss(s, t, 0.04, batch_size=2).backward()
    assert s.grad is not None and s.grad.abs().sum() > 0
    assert t.grad is None


def _masks() -> torch.Tensor:
    masks = torch.zeros(3, 5, dtype=torch.bool)
    masks[0, 1] = True
    masks[1, [0, 2, 4]] = True  # sample 2 has no masked token
    return masks


def test_ibot_ignores_unmasked_tokens() -> None:
    loss = IBOTPatchLoss(K)
    s, t, masks = torch.randn(3, 5, K), torch.randn(3, 5, K), _masks()
    ref = loss(s, t, masks, 0.04)
    s2, t2 = s.clone(), t.clone()
    s2[~masks] = torch.randn(int((~masks).sum()), K) * 10
    t2[~masks] = torch.randn(int((~masks).sum()), K) * 10
    torch.testing.assert_close(loss(s2, t2, masks, 0.04), ref)
    s2[0, 1, 0] += 5.0  # (a constant shift of all logits would be softmax-invariant)
    assert not torch.allclose(loss(s2, t2, masks, 0.04), ref)


def test_ibot_per_sample_mean_then_batch_mean() -> None:
    st, tt = 0.1, 0.04
    loss = IBOTPatchLoss(K, student_temp=st)
    s, t, masks = torch.randn(3, 5, K), torch.randn(3, 5, K), _masks()

    def token_ce(b: int, n: int) -> torch.Tensor:
        return -(F.softmax(t[b, n] / tt, -1) * F.log_softmax(s[b, n] / st, -1)).sum()

    sample0 = token_ce(0, 1)
    sample1 = (token_ce(1, 0) + token_ce(1, 2) + token_ce(1, 4)) / 3
    torch.testing.assert_close(loss(s, t, masks, tt), (sample0 + sample1) / 2)
    # masked-only entry point agrees with the dense one
    torch.testing.assert_close(loss.forward_masked(s[masks], t[masks], masks, tt), (sample0 + sample1) / 2)
    with pytest.raises(ValueError, match="masked-token"):
        loss.forward_masked(s[masks][:2], t[masks][:2], masks, tt)


def test_ibot_nothing_masked_is_zero_and_center_uses_masked_tokens() -> None:
    loss = IBOTPatchLoss(K, center_momentum=0.5)
    s = torch.randn(2, 4, K, requires_grad=True)
    none = torch.zeros(2, 4, dtype=torch.bool)
    value = loss(s, torch.randn(2, 4, K), none, 0.04)
    assert value.item() == 0.0
    value.backward()
    t, masks = torch.randn(2, 4, K), _masks()[:2, :4]
    loss.update_center(t, masks)
    torch.testing.assert_close(loss.center, 0.5 * t[masks].mean(0, keepdim=True))


def test_recon_only_masked_voxels_count() -> None:
    loss = ReconstructionLoss("mse", patch_size=2)
    target = torch.randn(2, 1, 4, 4, 4)
    pred = torch.randn(2, 1, 4, 4, 4)
    masks = torch.zeros(2, 8, dtype=torch.bool)
    masks[0, 0] = True
    masks[1, [3, 5]] = True
    vox = token_mask_to_voxel_mask(masks, (2, 2, 2), 2)
    assert int(vox.sum()) == 3 * 8
    expected = ((pred - target)[vox] ** 2).mean()
    torch.testing.assert_close(loss(pred, target, masks), expected)
    torch.testing.assert_close(loss(pred, target, vox), expected)  # voxel mask gives the same
    torch.testing.assert_close(loss(pred, target, vox[:, 0]), expected)  # (B, D, H, W) too
    pred2 = pred.clone()
    pred2[~vox] = 1e3  # unmasked voxels do not matter
    torch.testing.assert_close(loss(pred2, target, masks), expected)
    l1 = ReconstructionLoss("l1", patch_size=2)
    torch.testing.assert_close(l1(pred, target, masks), (pred - target)[vox].abs().mean())


def test_recon_norm_pix_and_errors() -> None:
    loss = ReconstructionLoss("mse", patch_size=2, norm_pix=True)
    target = torch.randn(1, 1, 4, 4, 4) * 5 + 3
    normed = loss.normalise_target(target)
    from volta_core.model import patchify

    rows = patchify(normed, 2)
    torch.testing.assert_close(rows.mean(-1), torch.zeros(1, 8), atol=1e-5, rtol=0)
    torch.testing.assert_close(rows.var(-1, unbiased=False), torch.ones(1, 8), atol=1e-3, rtol=0)
    all_masked = torch.ones(1, 8, dtype=torch.bool)
    # a prediction equal to the normalised target scores 0; the raw target does not
    assert loss(normed, target, all_masked).item() == pytest.approx(0.0, abs=1e-8)
    assert loss(target, target, all_masked).item() > 1.0
    with pytest.raises(ValueError):
        ReconstructionLoss("huber")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="bool"):
        loss(target, target, all_masked.float())
    with pytest.raises(ValueError, match="grid"):
        loss(target, target, torch.ones(1, 7, dtype=torch.bool))
    empty = ReconstructionLoss()(target, target, torch.zeros(1, 1, 4, 4, 4, dtype=torch.bool))
    assert empty.item() == 0.0 and not math.isnan(empty.item())
