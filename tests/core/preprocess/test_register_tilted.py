"""Registration of a head tilted far in the scanner (chin down or up): the pitched starts find it."""

from __future__ import annotations

import numpy as np
import pytest

from volta_core.io import load_volume, sample_scan_path
from volta_core.io.volume import Volume
from volta_core.preprocess.register import RegistrationSettings, register_to_template
from volta_core.preprocess.template import load_template


def _pitch(degrees: float) -> np.ndarray:
    a = np.deg2rad(degrees)
    rot = np.eye(4)
    rot[1:3, 1:3] = [[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]
    return rot


@pytest.mark.parametrize("degrees", [45.0])
def test_tilted_head_registers_like_the_upright_one(degrees: float) -> None:
    template = load_template()
    scan = load_volume(sample_scan_path())
    upright = register_to_template(scan, template)
    tilted = Volume(scan.data, _pitch(degrees) @ scan.affine)
    expected = _pitch(degrees) @ upright.template_to_scan
    points = np.array([[0, -20, -15, 1], [30, -20, -15, 1], [-30, -20, -15, 1]], dtype=float).T  # hippocampi
    without = register_to_template(tilted, template, settings=RegistrationSettings(rotation_search_below=0.0,
                                                                                    ratio_refit_below=0.0))
    fitted = register_to_template(tilted, template)
    error = np.linalg.norm((fitted.template_to_scan @ points - expected @ points)[:3], axis=0).max()
    error_without = np.linalg.norm((without.template_to_scan @ points - expected @ points)[:3], axis=0).max()
    assert error < 1.5 and fitted.quality > 0.7
    assert error_without > 3.0  # the S-I starts alone land several mm off (what the search fixes)
