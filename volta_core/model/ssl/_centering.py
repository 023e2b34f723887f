"""Shared pieces of the DINO and iBOT losses: centring, sharpening, distributed mean."""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["CenteredSoftmaxLoss", "distributed_mean"]


def distributed_mean(x: Tensor, count: int) -> tuple[Tensor, int]:
    """All-reduce a sum and a count across ranks when torch.distributed is initialised.

    Args:
        x: Local sum (any shape).
        count: Local number of summed rows.

    Returns:
        ``(global_sum, global_count)``.
    """
    if dist.is_available() and dist.is_initialized():
        x = x.clone()
        dist.all_reduce(x)
        n = torch.tensor([float(count)], device=x.device)
        dist.all_reduce(n)
        return x, int(n.item())
    return x, count


class CenteredSoftmaxLoss(nn.Module):
    """Base class: a ``center`` buffer, the teacher's centred/sharpened softmax, its EMA update.

    Args:
        out_dim: Number of prototypes ``K``.
        student_temp: Student softmax temperature.
        center_momentum: EMA momentum ``m`` of the centre: ``c <- m c + (1 - m) mean``.
    """

    def __init__(self, out_dim: int, student_temp: float = 0.1, center_momentum: float = 0.9) -> None:
        super().__init__()
        if out_dim < 1:
            raise ValueError(f"out_dim must be positive, got {out_dim}.")
        if student_temp <= 0:
            raise ValueError(f"student_temp must be > 0, got {student_temp}.")
        if not 0.0 <= center_momentum <= 1.0:
            raise ValueError(f"center_momentum must be in [0, 1], got {center_momentum}.")
        self.out_dim = out_dim
        self.student_temp = student_temp
        self.center_momentum = center_momentum
        self.register_buffer("center", torch.zeros(1, out_dim))

    def _check_logits(self, x: Tensor, what: str) -> None:
        if x.shape[-1] != self.out_dim:
            raise ValueError(f"{what} have {x.shape[-1]} prototypes, expected out_dim={self.out_dim}.")

    def teacher_probs(self, teacher_logits: Tensor, teacher_temp: float) -> Tensor:
        """Centred, sharpened teacher distribution (fp32, no grad).

        Args:
            teacher_logits: ``(..., K)``.
            teacher_temp: Teacher temperature (> 0).

        Returns:
            ``softmax((t - center) / teacher_temp)`` of shape ``(..., K)``.
        """
        if teacher_temp <= 0:
            raise ValueError(f"teacher_temp must be > 0, got {teacher_temp}.")
        self._check_logits(teacher_logits, "teacher logits")
        with torch.no_grad():
            return F.softmax((teacher_logits.detach().float() - self.center) / teacher_temp, dim=-1)

    def student_log_probs(self, student_logits: Tensor) -> Tensor:
        """``log_softmax(s / student_temp)`` in fp32, shape ``(..., K)``."""
        self._check_logits(student_logits, "student logits")
        return F.log_softmax(student_logits.float() / self.student_temp, dim=-1)

    @torch.no_grad()
    def update_center(self, teacher_logits: Tensor) -> None:
        """EMA update of the centre with the (all-ranks) mean of ``teacher_logits``.

        Args:
            teacher_logits: ``(M, K)`` (any leading dims are flattened).
        """
        self._check_logits(teacher_logits, "teacher logits")
        flat = teacher_logits.detach().float().reshape(-1, self.out_dim)
        if flat.shape[0] == 0:
            return
        total, count = distributed_mean(flat.sum(dim=0, keepdim=True), flat.shape[0])
        m = self.center_momentum
        self.center.mul_(m).add_(total / count, alpha=1.0 - m)

    @staticmethod
    def entropy(probs: Tensor) -> Tensor:
        """Mean entropy (nats) of distributions ``(..., K)``."""
        return -(probs * torch.log(probs.clamp_min(1e-12))).sum(-1).mean()

    @classmethod
    def diversity(cls, probs: Tensor) -> Tensor:
        """Mutual information (nats) between sample and prototype: ``H(mean p) - mean H(p)``.

        Zero for both kinds of DINO collapse: every distribution uniform (the centre wins)
        or every sample on the same prototype (sharpening wins). A healthy teacher keeps it
        clearly above zero; it can never exceed ``log`` of the number of rows of ``probs``.
        """
        flat = probs.reshape(-1, probs.shape[-1])
        return (cls.entropy(flat.mean(0)) - cls.entropy(flat)).clamp_min(0.0)
