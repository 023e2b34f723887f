"""The prefetching batch stream yields exactly the serial stream and hands producer errors on."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset

from volta_core.train.distributed import DistInfo
from volta_core.train.engine import make_stream


class SeededNoise(Dataset):
    """Per-sample randomness from (epoch, index), like the real datasets."""

    def __init__(self, n: int, fail_at: int | None = None) -> None:
        self.n, self.fail_at, self.epoch = n, fail_at, 0

    def __len__(self) -> int:
        return self.n

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __getitem__(self, key):  # noqa: ANN001, ANN204 - (epoch, index) or index
        epoch, index = key if isinstance(key, tuple) else (self.epoch, key)
        if index == self.fail_at:
            raise OSError(f"cannot read sample {index}")
        rng = np.random.default_rng([epoch, index])
        return torch.from_numpy(rng.random(8).astype(np.float32))


def _take(stream, start: int, n: int) -> list[tuple[int, torch.Tensor]]:
    out = []
    for item in stream.iterate(start):
        out.append(item)
        if len(out) == n:
            break
    return out


@pytest.mark.parametrize("start", [0, 5])
def test_prefetched_batches_equal_serial_batches(start: int):
    def stream(prefetch: int):
        s = make_stream(SeededNoise(10), batch_size=2, info=DistInfo(), seed=3, num_workers=0,
                        collate_fn=lambda items: torch.stack(items))
        s.prefetch = prefetch
        return s

    serial, ahead = _take(stream(0), start, 12), _take(stream(2), start, 12)  # crosses two epochs
    assert [e for e, _ in serial] == [e for e, _ in ahead]
    for (_, a), (_, b) in zip(serial, ahead):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_a_failing_sample_surfaces_in_the_training_thread():
    s = make_stream(SeededNoise(10, fail_at=7), batch_size=2, info=DistInfo(), seed=0, num_workers=0,
                    collate_fn=lambda items: torch.stack(items), shuffle=False)
    s.prefetch = 2
    with pytest.raises(OSError, match="cannot read sample 7"):
        _take(s, 0, 10)


def test_loader_workers_auto_leaves_the_cpu_to_the_model_and_feeds_a_gpu(monkeypatch):
    import os

    from volta_core.train.distributed import loader_workers

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(12)), raising=False)
    assert loader_workers(-1, torch.device("cpu")) == 0
    assert loader_workers(-1, torch.device("cuda")) == 8  # capped
    assert loader_workers(-1, torch.device("cuda"), world_size=4) == 2  # 12 cores / 4 ranks - the rank itself
    assert loader_workers(3, torch.device("cpu")) == 3  # an explicit number is kept
