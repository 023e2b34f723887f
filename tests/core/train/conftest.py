from __future__ import annotations

import pytest

from volta_core.data.synthetic import write_synthetic_bids


@pytest.fixture(scope="session")
def seg_data(tmp_path_factory):
    """Two synthetic subjects, 40^3 at 2.5 mm (hippocampi ~380 voxels each at 32^3 model size)."""
    return write_synthetic_bids(tmp_path_factory.mktemp("seg") / "bids", 2, shape=40, spacing=2.5)


@pytest.fixture(scope="session")
def cls_data(tmp_path_factory):
    """Eight synthetic subjects (4 F / 4 M, 4 CN / 4 AD), 32^3 at 5 mm."""
    return write_synthetic_bids(tmp_path_factory.mktemp("cls") / "bids", 8, shape=32, spacing=5.0)
