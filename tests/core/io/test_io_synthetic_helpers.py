"""The shared synthetic-scan helpers (tests/helpers/synthetic.py) do what they promise."""

from __future__ import annotations

import numpy as np

from tests.helpers.synthetic import (
    grid_affine,
    make_synthetic_head,
    make_synthetic_labels,
    marker_world_position,
    phantom_for_grid,
)

SHAPE = (24, 28, 20)


def test_grid_affine_orientation_and_centre() -> None:
    affine = grid_affine(SHAPE, axcodes="LIA", spacing=(1.0, 2.0, 0.5), center=(3.0, 4.0, 5.0))
    head = make_synthetic_head(SHAPE, affine)
    assert head.orientation == ("L", "I", "A")
    np.testing.assert_allclose(head.spacing, (1.0, 2.0, 0.5))
    np.testing.assert_allclose(head.voxel_to_world((np.array(SHAPE) - 1) / 2), (3.0, 4.0, 5.0))


def test_head_has_its_marker_where_the_phantom_says_and_is_not_symmetric() -> None:
    head = make_synthetic_head(SHAPE)
    marker = np.array(head.metadata["phantom"]["marker"])
    assert np.linalg.norm(marker_world_position(head) - marker) < 0.5
    assert not np.array_equal(head.data, head.data[::-1])


def test_labels_match_the_head() -> None:
    affine = grid_affine(SHAPE, axcodes="RAS", spacing=(0.8, 0.8, 0.8))
    phantom = phantom_for_grid(SHAPE, affine)
    head = make_synthetic_head(SHAPE, affine, phantom=phantom)
    labels = make_synthetic_labels(SHAPE, affine, phantom=phantom)
    assert labels.same_grid(head) and labels.data.dtype == np.uint8
    assert {17, 53} <= set(np.unique(labels.data).tolist())
    np.testing.assert_array_equal(head.data[labels.data == 17], 80)
    np.testing.assert_array_equal(head.data[labels.data == 4], 30)
    left = labels.voxel_to_world(np.argwhere(labels.data == 17).mean(axis=0))
    right = labels.voxel_to_world(np.argwhere(labels.data == 53).mean(axis=0))
    assert left[0] < phantom.center[0] < right[0]  # RAS: left hippocampus has smaller x
