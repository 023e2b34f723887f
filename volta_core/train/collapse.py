"""Detect a collapsed DINO teacher while pretraining, instead of training on for hours.

A student-teacher run can fall into one of two trivial solutions (Caron et al., 2021):

* **uniform**: the centring wins, every scan gets the uniform distribution over the ``K``
  prototypes (teacher entropy reaches ``ln K``). Seen here with ``optim.lr=5e-4`` at batch 8:
  within 200 steps the global loss stopped teaching anything.
* **one prototype**: the sharpening wins, every scan lands on the same prototype (entropy 0).

Both have zero *diversity* ``H(mean p) - mean H(p)`` (the information the teacher's output
carries about which scan it saw). Diversity alone cannot tell a collapse from a fresh random
teacher: about 0.02 nats at initialisation, against 0.39 for the recipe's trained teacher (one
batch of its last checkpoint, measured once by hand). So a step counts as collapsed only when
diversity is near zero *and* the entropy is at one of the two extremes; the guard fires after
``patience`` such steps in a row.

The guard watches the head only. A backbone can collapse to about one feature direction that
the head still spreads over many prototypes (the real-scan run of 2026-11-30: head diversity
0.6, backbone feature dimension 1.3 on 72 real scans, against 15 for random weights). Every step
therefore also logs ``teacher_feature_dim`` (the participation ratio of the teacher backbone's
class tokens over the batch; it is in the card's training curve). It does not stop a run: one
collapsed run is not enough to set a threshold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


class TeacherCollapsedError(RuntimeError):
    """The teacher collapsed and ``ssl.collapse_action=stop`` (a checkpoint was written first)."""


@dataclass
class CollapseGuard:
    """Feed it the teacher's entropy and diversity each step; it says when the teacher collapsed.

    Args:
        n_prototypes: ``K``, the DINO head's output dimension.
        patience: consecutive collapsed steps before it fires.
        min_diversity: diversity (nats) below which a step may count as collapsed.
        uniform_fraction: entropy at or above this fraction of ``ln K`` is "uniform".
        peaked_fraction: entropy at or below this fraction of ``ln K`` is "one prototype".
    """

    n_prototypes: int
    patience: int = 20
    min_diversity: float = 0.01
    uniform_fraction: float = 0.98
    peaked_fraction: float = 0.1
    fired: bool = False
    run_length: int = 0

    def kind(self, entropy: float, diversity: float) -> str | None:
        """``"uniform"``, ``"one prototype"`` or None for one step's values."""
        if not (math.isfinite(entropy) and math.isfinite(diversity)) or diversity >= self.min_diversity:
            return None
        ln_k = math.log(self.n_prototypes)
        if entropy >= self.uniform_fraction * ln_k:
            return "uniform"
        if entropy <= self.peaked_fraction * ln_k:
            return "one prototype"
        return None

    def update(self, step: int, entropy: float, diversity: float) -> str | None:
        """The message to show once, the first time ``patience`` collapsed steps are in a row."""
        kind = self.kind(entropy, diversity)
        self.run_length = self.run_length + 1 if kind else 0
        if kind is None or self.fired or self.run_length < self.patience:
            return None
        self.fired = True
        what = ("gives every scan the same uniform distribution" if kind == "uniform"
                else "puts every scan on the same prototype")
        return (f"the teacher collapsed at step {step}: it {what} (entropy {entropy:.2f} of at most "
                f"{math.log(self.n_prototypes):.2f} nats, diversity {diversity:.3f}) for {self.run_length} steps, "
                "so the global loss no longer teaches the encoder anything. Lower optim.lr (the recipe uses "
                "1e-4 at batch 8), keep ssl.teacher_temp_end at 0.04, or use a larger batch, and start again "
                "from an earlier run; checkpoints from now on hold a collapsed model.")
