"""The registration quality scores the alignment, not the contrast: a scan whose intensities are
not a linear function of a T1's (synthetic random contrast, mixed sequences) is ranked by how
well it explains the template (correlation ratio), not by a correlation that only a T1 earns."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from tests.core.preprocess.synthetic import fsaverage_whole_head_labels, per_structure_contrast

from volta_core.io import load_volume, sample_scan_path
from volta_core.io.volume import Volume
from volta_core.preprocess.register import (
    QUALITY_WARNING_THRESHOLD,
    RegistrationSettings,
    _ncc,
    register_to_template,
)
from volta_core.preprocess.register_ratio import correlation_ratio, refit_by_correlation_ratio
from volta_core.preprocess.sitk_bridge import array_to_sitk
from volta_core.preprocess.template import load_template


def test_correlation_ratio_equals_correlation_for_a_linear_contrast_and_sees_any_other() -> None:
    rng = np.random.default_rng(0)
    t1 = rng.normal(size=50_000)
    linear = 3.0 * t1 + 1.0 + 0.3 * rng.normal(size=t1.size)
    folded = np.abs(t1) + 0.05 * rng.normal(size=t1.size)  # grey/white order broken: r ~ 0
    assert abs(correlation_ratio(t1, linear) - abs(_ncc(t1, linear))) < 0.01
    assert abs(_ncc(t1 ** 2, folded)) < 0.99 and correlation_ratio(t1 ** 2, folded) > 0.95
    assert correlation_ratio(t1, rng.normal(size=t1.size)) < 0.05  # unrelated: nothing explained
    assert correlation_ratio(t1, np.zeros_like(t1)) < 1e-6


def test_a_scan_with_a_random_contrast_registers_and_is_not_called_doubtful() -> None:
    template = load_template()
    scan = load_volume(sample_scan_path())
    data = scan.data.astype(np.float32)
    head = data > np.percentile(data, 60)
    # a random contrast, as synthesis draws them: 8 intensity bands of the head, each given a
    # random brightness (grey/white/CSF order scrambled; |NCC| with the T1 template ~0.01)
    bands = np.percentile(data[head], np.linspace(0, 100, 9)[1:-1])
    brightness = np.random.default_rng(1).uniform(0.0, 1.0, 8)
    scrambled = np.where(head, brightness[np.digitize(data, bands)], 0.0).astype(np.float32)
    t1 = register_to_template(scan, template)
    other = register_to_template(Volume(scrambled, scan.affine), template)
    points = np.array([[0, -20, -15, 1], [30, -20, -15, 1], [-30, -20, -15, 1]], dtype=float).T  # hippocampi
    error = np.linalg.norm((other.template_to_scan @ points - t1.template_to_scan @ points)[:3], axis=0).max()
    assert error < 3.0
    assert other.quality >= QUALITY_WARNING_THRESHOLD  # |NCC| alone scored this alignment as doubtful


# --- every structure its own contrast: the correlation-ratio refit -----------------------------

POINTS = np.array([[0, -20, -15, 1], [30, -20, -15, 1], [-30, -20, -15, 1]], dtype=float).T  # hippocampi, midline


@pytest.fixture(scope="module")
def whole_head_labels() -> tuple[np.ndarray, np.ndarray]:
    return fsaverage_whole_head_labels()


@pytest.fixture(scope="module")
def t1_fit() -> np.ndarray:
    return register_to_template(load_volume(sample_scan_path()), load_template()).template_to_scan


def test_the_refit_finds_the_head_from_a_start_15_mm_off_and_15_percent_too_small(
        whole_head_labels: tuple[np.ndarray, np.ndarray], t1_fit: np.ndarray) -> None:
    template = load_template()
    scan = per_structure_contrast(*whole_head_labels, seed=5)
    moving = array_to_sitk(scan.data, scan.affine)
    moving = sitk.BinShrink(moving, [3, 3, 3])
    fixed = array_to_sitk(template.image.data, template.image.affine)
    start = t1_fit.copy()
    start[:3, :3] *= 0.85
    start[:3, 3] += (0.0, 10.0, -11.0)
    assert np.linalg.norm((start @ POINTS - t1_fit @ POINTS)[:3], axis=0).max() > 14.0
    fit = refit_by_correlation_ratio(fixed, template.mask.data > 0, template.mask.affine, moving, [start])
    error = np.linalg.norm((fit.template_to_scan @ POINTS - t1_fit @ POINTS)[:3], axis=0).max()
    assert error < 5.0  # a similarity, against the T1's affine fit
    assert fit.score > 0.4


def test_a_fit_mutual_information_gets_wrong_is_refitted_and_a_t1_is_not(
        whole_head_labels: tuple[np.ndarray, np.ndarray], t1_fit: np.ndarray) -> None:
    template = load_template()
    scan = per_structure_contrast(*whole_head_labels, seed=5)
    before = register_to_template(scan, template, settings=RegistrationSettings(ratio_refit_below=0.0))
    after = register_to_template(scan, template)
    assert before.fitted_by == "mutual_information" and after.fitted_by == "correlation_ratio"
    assert after.quality > before.quality
    errors = [np.linalg.norm((r.template_to_scan @ POINTS - t1_fit @ POINTS)[:3], axis=0).max() for r in (before, after)]
    assert errors[1] < 2.5 < errors[0], errors  # 2.0 mm vs 3.1 mm
    assert register_to_template(load_volume(sample_scan_path()), template).fitted_by == "mutual_information"
