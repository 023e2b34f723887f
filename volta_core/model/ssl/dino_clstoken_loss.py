"""DINO class-token loss: student views predict the teacher's other global views."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from volta_core.model.ssl._centering import CenteredSoftmaxLoss
from volta_core.registry import LOSSES

__all__ = ["DINOClsTokenLoss"]

Logits = Tensor | Sequence[Tensor]


@LOSSES.register("dino_cls")
class DINOClsTokenLoss(CenteredSoftmaxLoss):
    """Cross-entropy between the centred, sharpened teacher softmax and the student log-softmax.

    View ``i`` of the student is paired with every teacher view ``j != i``; the first
    ``V_t`` student views are the teacher's views in the same order (extra student views,
    e.g. small local crops, pair with every teacher view). The loss is the mean over pairs
    of the batch-mean cross-entropy ``-sum_k p_t log p_s``.

    Args:
        out_dim: Number of prototypes ``K``.
        student_temp: Student temperature.
        center_momentum: Centre EMA momentum.
    """

    @staticmethod
    def split_views(logits: Logits, batch_size: int | None) -> list[Tensor]:
        """Normalise the accepted layouts to a list of ``(B, K)`` tensors.

        Accepted: a list of ``(B, K)``; a ``(V, B, K)`` tensor; a view-major ``(V*B, K)``
        tensor together with ``batch_size``.
        """
        if isinstance(logits, Tensor):
            if logits.ndim == 3:
                return list(logits.unbind(0))
            if logits.ndim == 2:
                if batch_size is None or batch_size < 1 or logits.shape[0] % batch_size:
                    raise ValueError(
                        f"a (V*B, K) tensor of shape {tuple(logits.shape)} needs batch_size "
                        f"dividing {logits.shape[0]}, got {batch_size}."
                    )
                return list(logits.split(batch_size, dim=0))
            raise ValueError(f"logits must be (V, B, K) or (V*B, K), got {tuple(logits.shape)}.")
        views = list(logits)
        if not views:
            raise ValueError("got an empty list of views.")
        return views

    def forward(
        self,
        student_logits: Logits,
        teacher_logits: Logits,
        teacher_temp: float,
        batch_size: int | None = None,
    ) -> Tensor:
        """Compute the loss (does not update the centre; call :meth:`update_center`).

        Args:
            student_logits: ``V_s`` views of ``(B, K)`` (list, ``(V_s, B, K)`` or ``(V_s*B, K)``).
            teacher_logits: ``V_t`` views, same layouts; ``V_t <= V_s``.
            teacher_temp: Teacher temperature.
            batch_size: ``B``; needed only for the flat ``(V*B, K)`` layout.

        Returns:
            Scalar loss (fp32).
        """
        students = self.split_views(student_logits, batch_size)
        teachers = self.split_views(teacher_logits, batch_size)
        if len(students) < 2 and len(teachers) < 2:
            raise ValueError("the DINO loss needs at least two views (no cross-view pair otherwise).")
        shapes = {tuple(v.shape) for v in students + teachers}
        if len(shapes) != 1:
            raise ValueError(f"all views must share one (B, K) shape, got {sorted(shapes)}.")
        probs = [self.teacher_probs(t, teacher_temp) for t in teachers]
        log_probs = [self.student_log_probs(s) for s in students]
        total = torch.zeros((), device=log_probs[0].device)
        n_terms = 0
        for j, p_t in enumerate(probs):
            for i, log_p_s in enumerate(log_probs):
                if i == j:
                    continue
                total = total + (-(p_t * log_p_s).sum(dim=-1)).mean()
                n_terms += 1
        if n_terms == 0:
            raise ValueError("no cross-view (student, teacher) pair: give at least two views.")
        return total / n_terms

    def update_center(self, teacher_logits: Logits, batch_size: int | None = None) -> None:  # type: ignore[override]
        """EMA of the centre with the mean teacher logit over all views (and ranks)."""
        if not isinstance(teacher_logits, Tensor) or teacher_logits.ndim != 2:
            teacher_logits = torch.cat(self.split_views(teacher_logits, batch_size), dim=0)
        super().update_center(teacher_logits)
