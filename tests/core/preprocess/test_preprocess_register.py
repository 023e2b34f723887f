"""Registration to the template recovers known affines (real SimpleITK registration)."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from tests.core.preprocess.conftest import BRAIN_CENTER_MM, LANDMARKS_MM
from tests.core.preprocess.synthetic import grid_affine, scan_from_template, similarity_matrix
from volta_core.io.volume import Volume
from volta_core.preprocess.register import RegistrationError, RegistrationResult, register_to_template
from volta_core.preprocess.sitk_bridge import (
    array_to_sitk,
    ras_matrix_to_transform,
    sitk_affine,
    sitk_to_array,
    transform_to_ras_matrix,
)
from volta_core.preprocess.template import Template

#: the "true" template -> scan transform: rotate 10 deg (+5 deg), translate 8 mm, scale 1.05
TRUE = similarity_matrix((10.0, 0.0, 5.0), (8.0, -5.0, 4.0), 1.05, BRAIN_CENTER_MM)


def _landmark_errors(result: RegistrationResult, truth: np.ndarray) -> np.ndarray:
    expected = LANDMARKS_MM @ truth[:3, :3].T + truth[:3, 3]
    return np.linalg.norm(result.template_to_scan_points(LANDMARKS_MM) - expected, axis=1)


def test_sitk_bridge_round_trips_geometry() -> None:
    affine = grid_affine("LIA", (5, 6, 7), (1.0, 2.0, 3.0), (4.0, -5.0, 6.0), oblique_degrees=(15, 0, 5))
    data = np.random.default_rng(0).random((5, 6, 7)).astype(np.float32)
    image = array_to_sitk(data, affine)
    assert np.allclose(sitk_affine(image), affine)
    assert np.array_equal(sitk_to_array(image), data)
    # SimpleITK's own index -> physical point agrees with the RAS affine (after LPS flip)
    lps = np.asarray(image.TransformIndexToPhysicalPoint((1, 2, 3)))
    ras = affine[:3, :3] @ [1, 2, 3] + affine[:3, 3]
    assert np.allclose(lps * [-1, -1, 1], ras)
    matrix = similarity_matrix((3, -7, 12), (1, 2, 3), 0.9, (10, 20, 30))
    assert np.allclose(transform_to_ras_matrix(ras_matrix_to_transform(matrix)), matrix)
    point = np.array([5.0, -6.0, 7.0])
    moved = np.asarray(ras_matrix_to_transform(matrix).TransformPoint(tuple(point * [-1, -1, 1])))
    assert np.allclose(moved * [-1, -1, 1], matrix[:3, :3] @ point + matrix[:3, 3])


@pytest.mark.parametrize(
    "skull, thick",
    [(False, False), (True, False), (False, True), (True, True)],
    ids=["brain-only", "with-skull", "thick-slices", "thick-slices-with-skull"],
)
def test_registration_recovers_a_known_affine(template: Template, skull: bool, thick: bool) -> None:
    if thick:  # 1.5 x 1.5 mm in plane, 5 mm axial slices (partial-volume averaged)
        shape, spacing = (110, 128, 38), (1.5, 1.5, 5.0)
    else:
        shape, spacing = (110, 128, 110), (1.5, 1.5, 1.5)
    affine = grid_affine("RAS", shape, spacing, BRAIN_CENTER_MM)
    scan = scan_from_template(
        template, TRUE, affine, shape, skull=skull, slice_axis=2 if thick else None,
        slice_thickness_mm=5.0 if thick else None,
    )
    result = register_to_template(scan, template)
    errors = _landmark_errors(result, TRUE)
    assert errors.max() < 2.0, errors
    assert result.quality > 0.9 and result.is_reliable
    assert result.mode == "affine" and result.iterations > 0 and result.seconds > 0
    # the fitted transform inverts consistently
    back = result.scan_to_template_points(result.template_to_scan_points(LANDMARKS_MM))
    assert np.allclose(back, LANDMARKS_MM)


def test_registration_copes_with_a_field_of_view_that_cuts_the_head(template: Template) -> None:
    # LIA storage, head with skull, top of the skull outside the 150 mm S-I field of view
    truth = similarity_matrix((5.0, 0.0, 8.0), (4.0, -3.0, 6.0), 1.0, BRAIN_CENTER_MM)
    shape = (100, 100, 120)
    scan = scan_from_template(template, truth, grid_affine("LIA", shape, (1.5,) * 3, BRAIN_CENTER_MM), shape, skull=True)
    result = register_to_template(scan, template, mode="similarity")
    assert _landmark_errors(result, truth).max() < 2.0
    assert result.quality > 0.9


def test_rigid_mode_and_a_failed_registration_is_flagged(template: Template) -> None:
    rng = np.random.default_rng(3)
    noise = rng.random((40, 40, 40)).astype(np.float32)
    result = register_to_template(Volume(noise, grid_affine("RAS", (40, 40, 40), (4.0,) * 3)), template, mode="rigid")
    assert result.quality < 0.3 and not result.is_reliable
    assert np.allclose(np.linalg.det(result.template_to_scan[:3, :3]), 1.0, atol=1e-6)  # rigid: no scale
    with pytest.raises(ValueError, match="mode"):
        register_to_template(Volume(noise, np.eye(4)), template, mode="bspline")  # type: ignore[arg-type]
    with pytest.raises(RegistrationError, match="constant"):
        register_to_template(Volume(np.ones((50, 50, 50), np.float32), np.eye(4)), template)
    with pytest.raises(RegistrationError, match="at least 40 mm"):
        register_to_template(Volume(noise[:, :, :1], np.eye(4)), template)  # a single slice
    assert sitk.ProcessObject.GetGlobalDefaultNumberOfThreads() == 2


def test_inverted_contrast_registers_and_scores_as_aligned(template: Template) -> None:
    # a T2-like scan: intensities inverted inside the head; mutual information still aligns it,
    # and the quality score (|NCC|) must not call a good fit a failure
    shape = (110, 128, 110)
    scan = scan_from_template(template, TRUE, grid_affine("RAS", shape, (1.5,) * 3, BRAIN_CENTER_MM), shape)
    data = scan.data.astype(np.float32)
    head = data > 0.05 * data.max()
    inverted = Volume(np.where(head, data.max() * 1.05 - data, 0).astype(np.float32), scan.affine)
    result = register_to_template(inverted, template)
    assert _landmark_errors(result, TRUE).max() < 3.0
    assert result.quality > 0.8 and result.is_reliable
