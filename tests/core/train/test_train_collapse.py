"""The collapsed-teacher guard: its statistic, its rule, and a real run that collapses."""

from __future__ import annotations

import math

import pytest
import torch

from volta_core.model.ssl.dino_clstoken_loss import DINOClsTokenLoss
from volta_core.train.collapse import CollapseGuard

K = 64


def test_diversity_is_zero_for_both_collapses_and_log_b_for_distinct_one_hots():
    div = DINOClsTokenLoss.diversity
    uniform = torch.full((8, K), 1.0 / K)
    same = torch.zeros(8, K)
    same[:, 3] = 1.0
    distinct = torch.eye(K)[:8]
    assert float(div(uniform)) == pytest.approx(0.0, abs=1e-5)
    assert float(div(same)) == pytest.approx(0.0, abs=1e-5)
    assert float(div(distinct)) == pytest.approx(math.log(8), rel=1e-4)
    # leading dims are flattened: (views, batch, K) == (views * batch, K)
    assert float(div(distinct.reshape(2, 4, K))) == pytest.approx(math.log(8), rel=1e-4)


def test_guard_fires_once_after_patience_collapsed_steps_in_a_row():
    ln_k = math.log(K)
    guard = CollapseGuard(K, patience=3)
    # a fresh random teacher: low diversity but middling entropy (as measured: 5.0 of 6.9, 0.02)
    assert guard.kind(0.72 * ln_k, 0.002) is None
    assert guard.kind(ln_k, 0.001) == "uniform" and guard.kind(0.01, 0.0) == "one prototype"
    assert guard.kind(ln_k, 0.2) is None  # near-uniform but still informative: healthy
    assert guard.kind(float("nan"), 0.0) is None
    seq = [ln_k, ln_k, 0.5 * ln_k, ln_k, ln_k]  # the run is broken by a healthy step
    assert all(guard.update(i, e, 0.0) is None for i, e in enumerate(seq))
    message = guard.update(5, ln_k, 0.0)
    assert message is not None and "step 5" in message and "uniform" in message and "optim.lr" in message
    assert guard.update(6, ln_k, 0.0) is None  # said once


def test_config_refuses_unknown_action():
    from volta_core.config import ConfigError, PretrainConfig, load_config

    with pytest.raises((ConfigError, ValueError), match="collapse_action"):
        load_config(PretrainConfig, None, ["ssl.collapse_action=panic"])
