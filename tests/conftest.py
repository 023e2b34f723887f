"""Fixtures shared by every test folder."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def trained_segmenter_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny real segmenter trained on the shipped template (see tests/helpers/tiny_models.py).

    Trained once per test session (about a minute on 2 CPU cores)."""
    import torch

    from tests.helpers.tiny_models import train_template_segmenter

    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        return train_template_segmenter(tmp_path_factory.mktemp("trained"), steps=120)
    finally:
        torch.set_num_threads(threads)
