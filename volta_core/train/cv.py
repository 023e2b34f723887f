"""Subject-level k-fold cross-validation: a subject's sessions never straddle two folds."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Fold:
    """Sample indices of one fold (``val``) and of the rest (``train``)."""

    index: int
    train: list[int]
    val: list[int]


def subject_kfold(subjects: Sequence[str], k: int, seed: int = 0,
                  labels: Sequence[object] | None = None) -> list[Fold]:
    """Split samples into ``k`` folds by subject, deterministically for a seed.

    Subjects are shuffled with ``seed`` and dealt round-robin to folds; with ``labels``
    (one per sample), each class's subjects are dealt separately so folds keep the class balance.

    Raises:
        ValueError: fewer subjects than folds, or ``k < 2``.
    """
    if k < 2:
        raise ValueError(f"need k >= 2 folds, got {k}")
    by_subject: dict[str, list[int]] = defaultdict(list)
    for i, s in enumerate(subjects):
        by_subject[s].append(i)
    unique = sorted(by_subject)
    if len(unique) < k:
        raise ValueError(f"{len(unique)} subjects cannot fill {k} folds")
    rng = np.random.default_rng(seed)
    groups: dict[str, list[str]] = defaultdict(list)
    for s in unique:
        groups[str(labels[by_subject[s][0]]) if labels is not None else ""].append(s)
    fold_subjects: list[list[str]] = [[] for _ in range(k)]
    offset = 0
    for key in sorted(groups):
        members = [groups[key][i] for i in rng.permutation(len(groups[key]))]
        for j, s in enumerate(members):
            fold_subjects[(j + offset) % k].append(s)
        offset += len(members)
    folds = []
    for f in range(k):
        val = sorted(i for s in fold_subjects[f] for i in by_subject[s])
        train = sorted(i for g in range(k) if g != f for s in fold_subjects[g] for i in by_subject[s])
        folds.append(Fold(index=f, train=train, val=val))
    return folds
