"""iBOT patch-token loss: student predicts the teacher's patch distributions at masked tokens."""

from __future__ import annotations

import torch
from torch import Tensor

from volta_core.model.ssl._centering import CenteredSoftmaxLoss
from volta_core.registry import LOSSES

__all__ = ["IBOTPatchLoss"]


@LOSSES.register("ibot_patch")
class IBOTPatchLoss(CenteredSoftmaxLoss):
    """Masked-token cross-entropy with its own centre.

    Per sample, the cross-entropy ``-sum_k p_t log p_s`` is averaged over that sample's
    masked tokens; the loss is the mean over samples that have at least one masked token
    (unmasked tokens never contribute).

    Args:
        out_dim: Number of prototypes ``K``.
        student_temp: Student temperature.
        center_momentum: Centre EMA momentum.
    """

    @staticmethod
    def token_weights(masks: Tensor) -> Tensor:
        """Weight of each masked token, ``(M,)`` in ``masks.nonzero()`` order.

        ``1 / (n_masked(sample) * n_samples_with_a_mask)``, so that the weighted sum is the
        per-sample mean then batch mean.
        """
        if masks.ndim != 2 or masks.dtype != torch.bool:
            raise ValueError(f"masks must be a (B, N) bool tensor, got {masks.dtype} {tuple(masks.shape)}.")
        per_sample = masks.sum(dim=1)  # (B,)
        n_samples = int((per_sample > 0).sum())
        # weights: (B, N) -> masked entries (M,)
        weights = 1.0 / (per_sample.clamp_min(1).float() * max(n_samples, 1))
        return weights.unsqueeze(1).expand_as(masks)[masks]

    def forward_masked(
        self, student_logits: Tensor, teacher_logits: Tensor, masks: Tensor, teacher_temp: float
    ) -> Tensor:
        """Loss from logits of the masked tokens only (cheaper: heads run on M tokens).

        Args:
            student_logits: ``(M, K)`` student logits at ``masks.nonzero()`` positions.
            teacher_logits: ``(M, K)`` teacher logits at the same positions.
            masks: ``(B, N)`` bool, ``M = masks.sum()``.
            teacher_temp: Teacher temperature.

        Returns:
            Scalar loss (fp32); 0 (still differentiable) when nothing is masked.
        """
        m = int(masks.sum())
        if student_logits.shape[0] != m or teacher_logits.shape[0] != m:
            raise ValueError(
                f"expected {m} masked-token logits, got student {tuple(student_logits.shape)} "
                f"and teacher {tuple(teacher_logits.shape)}."
            )
        # ce: (M,)
        ce = -(self.teacher_probs(teacher_logits, teacher_temp) * self.student_log_probs(student_logits)).sum(-1)
        return (ce * self.token_weights(masks).to(ce.device)).sum()

    def forward(
        self, student_logits: Tensor, teacher_logits: Tensor, masks: Tensor, teacher_temp: float
    ) -> Tensor:
        """Loss from dense patch logits.

        Args:
            student_logits: ``(B, N, K)``.
            teacher_logits: ``(B, N, K)``.
            masks: ``(B, N)`` bool of masked tokens.
            teacher_temp: Teacher temperature.

        Returns:
            Scalar loss (fp32).
        """
        if student_logits.shape != teacher_logits.shape or student_logits.shape[:2] != masks.shape:
            raise ValueError(
                f"shape mismatch: student {tuple(student_logits.shape)}, teacher "
                f"{tuple(teacher_logits.shape)}, masks {tuple(masks.shape)} (want (B, N, K) x2, (B, N))."
            )
        return self.forward_masked(student_logits[masks], teacher_logits[masks], masks, teacher_temp)

    def update_center(self, teacher_logits: Tensor, masks: Tensor | None = None) -> None:  # type: ignore[override]
        """EMA of the centre with the mean teacher logit over masked tokens.

        Args:
            teacher_logits: ``(M, K)`` masked-token logits, or ``(B, N, K)`` with ``masks``.
            masks: ``(B, N)`` bool when ``teacher_logits`` is dense.
        """
        if masks is not None:
            teacher_logits = teacher_logits[masks]
        super().update_center(teacher_logits)
