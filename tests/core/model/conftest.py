"""Tiny model settings shared by the model tests (fast on one CPU thread)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import torch

# 32^3 input, patch 8 -> 4x4x4 = 64 tokens, width 48, 4 blocks.
TINY: dict[str, Any] = dict(img_size=32, patch_size=8, embed_dim=48, depth=4, num_heads=3)


@pytest.fixture(autouse=True)
def _seed_and_threads() -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def tiny_kwargs() -> dict[str, Any]:
    return dict(TINY)
