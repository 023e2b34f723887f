from __future__ import annotations

import numpy as np
import pytest

from volta_core.model import CosineScheduler


def test_cosine_endpoints_and_midpoint() -> None:
    s = CosineScheduler(1.0, 0.0, total_iters=101)
    assert s[0] == pytest.approx(1.0)
    assert s[50] == pytest.approx(0.5)
    assert s[100] == pytest.approx(0.0)
    assert s[10_000] == 0.0  # past the end -> final
    assert len(s) == 101 and len(s.schedule) == 101
    assert np.all(np.diff(s.schedule) <= 0)


def test_warmup_and_freeze() -> None:
    s = CosineScheduler(1.0, 0.1, total_iters=20, warmup_iters=5, start_warmup=0.0, freeze_iters=3)
    assert [s[i] for i in range(3)] == [0.0, 0.0, 0.0]
    np.testing.assert_allclose([s[i] for i in range(3, 8)], [0.0, 0.2, 0.4, 0.6, 0.8])
    assert s[8] == pytest.approx(1.0)
    assert s[19] == pytest.approx(0.1)


def test_teacher_schedules() -> None:
    momentum = CosineScheduler(0.996, 1.0, total_iters=50)
    assert momentum[0] == pytest.approx(0.996) and momentum[49] == pytest.approx(1.0)
    assert np.all(np.diff(momentum.schedule) >= 0)
    temp = CosineScheduler(0.07, 0.07, total_iters=30, warmup_iters=10, start_warmup=0.04)
    assert temp[0] == pytest.approx(0.04)
    assert temp[5] == pytest.approx(0.055)
    assert all(temp[i] == pytest.approx(0.07) for i in range(10, 40))


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        CosineScheduler(1.0, 0.0, total_iters=0)
    with pytest.raises(ValueError):
        CosineScheduler(1.0, 0.0, total_iters=10, warmup_iters=8, freeze_iters=3)
    with pytest.raises(IndexError):
        CosineScheduler(1.0, 0.0, total_iters=10)[-1]
