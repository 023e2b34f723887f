"""Fixtures for the preprocessing tests: the shipped template and scans warped from it."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

# `tests.core.preprocess.synthetic` must import however pytest is started.
_ROOT = Path(__file__).resolve().parents[3]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from volta_core.preprocess.template import Template, load_template  # noqa: E402

#: Template-space landmarks (mm) spread over the brain: hippocampi, centre, cortex corners.
LANDMARKS_MM = np.array(
    [
        [-25.0, -25.0, -12.0],
        [25.0, -25.0, -12.0],
        [0.0, -17.0, 5.0],
        [-50.0, -60.0, 30.0],
        [50.0, 40.0, -20.0],
        [0.0, 60.0, 40.0],
        [-40.0, 10.0, 60.0],
    ]
)

#: Centre of the template brain (mm); scans are centred here.
BRAIN_CENTER_MM = (0.0, -17.5, 5.0)


@pytest.fixture(scope="session")
def template() -> Template:
    return load_template()
