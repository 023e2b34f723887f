"""Per-iteration schedules (DINOv2 style): lr, weight decay, teacher momentum and temperature."""

from __future__ import annotations

import numpy as np

__all__ = ["CosineScheduler"]


class CosineScheduler:
    """Values per iteration: ``freeze`` zeros, linear warm-up, then cosine ``base -> final``.

    ``sched[it]`` returns a float; indices past ``total_iters`` return ``final``.
    Typical uses (``T`` total iterations)::

        lr       = CosineScheduler(5e-4, 1e-6, T, warmup_iters=T // 10)
        wd       = CosineScheduler(0.04, 0.4, T)
        momentum = CosineScheduler(0.996, 1.0, T)
        temp     = CosineScheduler(0.07, 0.07, T, warmup_iters=T // 3, start_warmup=0.04)

    Args:
        base: Value right after warm-up.
        final: Value at the last iteration.
        total_iters: Length of the schedule (freeze + warm-up + cosine).
        warmup_iters: Linear ramp ``start_warmup -> base`` length.
        start_warmup: Value at the first warm-up iteration.
        freeze_iters: Leading iterations with value 0 (e.g. a frozen last layer).

    Raises:
        ValueError: Negative lengths or ``freeze + warmup > total``.
    """

    def __init__(
        self,
        base: float,
        final: float,
        total_iters: int,
        warmup_iters: int = 0,
        start_warmup: float = 0.0,
        freeze_iters: int = 0,
    ) -> None:
        if total_iters < 1 or warmup_iters < 0 or freeze_iters < 0:
            raise ValueError(
                f"need total_iters >= 1 and non-negative warm-up/freeze, got "
                f"{total_iters}, {warmup_iters}, {freeze_iters}."
            )
        if freeze_iters + warmup_iters > total_iters:
            raise ValueError(
                f"freeze_iters + warmup_iters ({freeze_iters} + {warmup_iters}) exceed total_iters ({total_iters})."
            )
        self.base, self.final, self.total_iters = float(base), float(final), int(total_iters)
        freeze = np.zeros(freeze_iters)
        warmup = np.linspace(start_warmup, base, warmup_iters, endpoint=False) if warmup_iters else np.zeros(0)
        n = total_iters - warmup_iters - freeze_iters
        it = np.arange(n)
        cosine = final + 0.5 * (base - final) * (1 + np.cos(np.pi * it / max(n - 1, 1))) if n > 1 else np.full(n, base)
        self.schedule: np.ndarray = np.concatenate((freeze, warmup, cosine)).astype(np.float64)

    def __getitem__(self, it: int) -> float:
        if it < 0:
            raise IndexError(f"iteration must be >= 0, got {it}.")
        return self.final if it >= self.total_iters else float(self.schedule[it])

    def __len__(self) -> int:
        return self.total_iters
