"""Fixtures for the io tests. Helpers shared with other test folders live in ``tests/helpers``."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

# `tests.helpers` must import however pytest is started (from the repo root or elsewhere).
_ROOT = Path(__file__).resolve().parents[3]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from tests.helpers.synthetic import grid_affine, random_volume  # noqa: E402
from volta_core.io import Volume  # noqa: E402

SHAPE = (24, 28, 20)


@pytest.fixture
def oblique_affine() -> np.ndarray:
    """Oblique (rotated ~12/-7/20 degrees) and anisotropic (0.9 x 1.2 x 2.5 mm) grid."""
    return grid_affine(SHAPE, axcodes="LPS", spacing=(0.9, 1.2, 2.5), rotation_deg=(12.0, -7.0, 20.0),
                       center=(5.0, -3.0, 10.0))


@pytest.fixture
def oblique_volume(oblique_affine: np.ndarray) -> Volume:
    return random_volume(SHAPE, oblique_affine, dtype=np.int16, seed=1)

