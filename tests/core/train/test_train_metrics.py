from __future__ import annotations

import math

import numpy as np
import pytest

from volta_core.train.metrics import auroc, binary_metrics, dice, hd95, mean_sd, segmentation_metrics, volume_error


def test_dice_by_hand():
    a = np.zeros((4, 4, 4), bool)
    b = np.zeros((4, 4, 4), bool)
    a[0, 0, :4] = True  # 4 voxels
    b[0, 0, 2:4] = True
    b[1, 1, 1] = True  # 3 voxels, 2 shared
    assert dice(a, b) == pytest.approx(2 * 2 / 7)
    assert dice(np.zeros(3), np.zeros(3)) == 1.0


def test_hd95_of_shifted_cubes_in_mm():
    a = np.zeros((20, 20, 20), bool)
    a[5:10, 5:10, 5:10] = True
    b = np.roll(a, 3, axis=0)
    # surfaces shifted by 3 voxels along x with 2 mm spacing: the 95th percentile distance is 6 mm
    assert hd95(a, b, (2.0, 1.0, 1.0)) == pytest.approx(6.0)
    assert hd95(a, a, (1, 1, 1)) == 0.0
    assert math.isnan(hd95(a, np.zeros_like(a)))


def test_volume_error_in_ml():
    p = np.zeros((10, 10, 10), bool)
    t = np.zeros((10, 10, 10), bool)
    p[:5] = True  # 500 voxels
    t[:4] = True  # 400 voxels
    err = volume_error(p, t, voxel_volume_mm3=8.0)
    assert err["abs_ml"] == pytest.approx(0.8) and err["rel"] == pytest.approx(0.25)


def test_segmentation_metrics_per_side():
    t = np.zeros((10, 10, 10), int)
    t[1:4, 4:6, 4:6] = 1
    t[6:9, 4:6, 4:6] = 2
    m = segmentation_metrics(t.copy(), t, (1.5, 1.5, 1.5))
    assert m["dice_left"] == m["dice_right"] == m["dice"] == 1.0 and m["hd95"] == 0.0
    swapped = np.where(t == 1, 2, np.where(t == 2, 1, 0))
    assert segmentation_metrics(swapped, t, (1, 1, 1))["dice"] == 0.0


def test_auroc_by_hand_with_ties():
    # positives 0.8, 0.4; negatives 0.4, 0.1: pairs (0.8>0.4, 0.8>0.1, 0.4=0.4 -> 0.5, 0.4>0.1) -> 3.5/4
    assert auroc([1, 1, 0, 0], [0.8, 0.4, 0.4, 0.1]) == pytest.approx(0.875)
    assert auroc([0, 1], [0.9, 0.1]) == 0.0
    assert math.isnan(auroc([1, 1], [0.2, 0.3]))


def test_binary_metrics_by_hand():
    m = binary_metrics([1, 1, 1, 0, 0], [1, 0, 0, 0, 1])
    assert m["sensitivity"] == pytest.approx(1 / 3)
    assert m["specificity"] == pytest.approx(1 / 2)
    assert m["balanced_accuracy"] == pytest.approx((1 / 3 + 1 / 2) / 2)
    assert m["accuracy"] == pytest.approx(2 / 5)


def test_mean_sd():
    assert mean_sd([1.0, 3.0]) == (2.0, pytest.approx(math.sqrt(2)))
    assert mean_sd([2.0, float("nan")]) == (2.0, 0.0)
