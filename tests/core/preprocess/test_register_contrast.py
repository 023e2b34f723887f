"""The registration quality scores the alignment, not the contrast: a scan whose intensities are
not a linear function of a T1's (synthetic random contrast, mixed sequences) is ranked by how
well it explains the template (correlation ratio), not by a correlation that only a T1 earns."""

from __future__ import annotations

import numpy as np

from volta_core.io import load_volume, sample_scan_path
from volta_core.io.volume import Volume
from volta_core.preprocess.register import (
    QUALITY_WARNING_THRESHOLD,
    _correlation_ratio,
    _ncc,
    register_to_template,
)
from volta_core.preprocess.template import load_template


def test_correlation_ratio_equals_correlation_for_a_linear_contrast_and_sees_any_other() -> None:
    rng = np.random.default_rng(0)
    t1 = rng.normal(size=50_000)
    linear = 3.0 * t1 + 1.0 + 0.3 * rng.normal(size=t1.size)
    folded = np.abs(t1) + 0.05 * rng.normal(size=t1.size)  # grey/white order broken: r ~ 0
    assert abs(_correlation_ratio(t1, linear) - abs(_ncc(t1, linear))) < 0.01
    assert abs(_ncc(t1 ** 2, folded)) < 0.99 and _correlation_ratio(t1 ** 2, folded) > 0.95
    assert _correlation_ratio(t1, rng.normal(size=t1.size)) < 0.05  # unrelated: nothing explained
    assert _correlation_ratio(t1, np.zeros_like(t1)) < 1e-6


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
