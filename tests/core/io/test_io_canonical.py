"""canonical_ras: one scan acquired in LAS, LIA, RAS or obliquely shows its marker in one place."""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers.synthetic import (
    HeadPhantom,
    grid_affine,
    make_synthetic_head,
    marker_world_position,
    random_volume,
)
from volta_core.io import Volume, VolumeTooLargeError, canonical_ras

SHAPE = (24, 28, 20)
PHANTOM = HeadPhantom(center=(1.0, -2.0, 3.0), radii=(9.0, 11.0, 7.5), shell_mm=1.5,
                      marker=(4.0, 2.5, 5.5), marker_radius=2.0)


def _copy(axcodes: str, rotation: tuple[float, float, float] = (0.0, 0.0, 0.0),
          spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)) -> Volume:
    shape = (26, 30, 26)
    affine = grid_affine(shape, axcodes=axcodes, spacing=spacing, rotation_deg=rotation, center=(1.0, -2.0, 3.0))
    return make_synthetic_head(shape, affine, phantom=PHANTOM)


@pytest.mark.parametrize("axcodes", ["LAS", "LIA", "RAS", "PSR", "ILA"])
def test_axis_aligned_scans_are_permuted_exactly(axcodes: str) -> None:
    scan = _copy(axcodes, spacing=(1.0, 0.8, 1.2))
    canonical = canonical_ras(scan)
    assert canonical.orientation == ("R", "A", "S")
    assert canonical.metadata["canonical"] == {"source_orientation": axcodes, "source_shape": [26, 30, 26],
                                               "resampled": False}
    assert np.all(np.diag(canonical.affine)[:3] > 0)
    assert np.count_nonzero(canonical.affine[:3, :3] - np.diag(np.diag(canonical.affine[:3, :3]))) == 0
    assert sorted(canonical.data.ravel().tolist()) == sorted(scan.data.ravel().tolist())
    # every voxel keeps its world position: sample the original at the canonical voxels' positions
    rng = np.random.default_rng(0)
    ijk = np.stack([rng.integers(0, n, 200) for n in canonical.shape], axis=1)
    back = np.rint(scan.world_to_voxel(canonical.voxel_to_world(ijk))).astype(int)
    np.testing.assert_array_equal(canonical.data[tuple(ijk.T)], scan.data[tuple(back.T)])


@pytest.mark.parametrize("axcodes,rotation,spacing", [
    ("LAS", (0, 0, 0), (1.0, 1.0, 1.0)),
    ("LIA", (0, 0, 0), (1.0, 1.0, 1.0)),
    ("RAS", (0, 0, 0), (1.0, 1.0, 1.0)),
    ("RAS", (14, -9, 23), (1.0, 1.0, 1.0)),
    ("LIA", (-20, 6, 11), (0.9, 1.3, 1.1)),
])
def test_marker_lands_at_the_same_world_position(axcodes: str, rotation: tuple, spacing: tuple) -> None:
    scan = _copy(axcodes, rotation, spacing)
    canonical = canonical_ras(scan)
    assert canonical.orientation == ("R", "A", "S")
    assert canonical.metadata["canonical"]["resampled"] == scan.is_oblique
    where = marker_world_position(canonical, threshold=150)
    assert np.linalg.norm(where - np.array(PHANTOM.marker)) < 0.6, where


def test_oblique_scan_grid_covers_the_scan_at_its_finest_spacing() -> None:
    scan = _copy("LIA", (-20, 6, 11), (0.9, 1.3, 1.1))
    canonical = canonical_ras(scan)
    np.testing.assert_allclose(canonical.spacing, (0.9, 0.9, 0.9))
    assert not canonical.is_oblique
    corners = scan.voxel_to_world(np.array([[0, 0, 0], [s - 1 for s in scan.shape]]))
    low = canonical.voxel_to_world(np.zeros(3))
    high = canonical.voxel_to_world(np.array(canonical.shape) - 1)
    assert np.all(low <= corners.min(axis=0) + 1e-6) and np.all(high >= corners.max(axis=0) - 0.9)
    assert canonical.data.dtype == np.float32


def test_oblique_integer_scan_stays_integer_and_labels_resample_with_nearest() -> None:
    labels = make_synthetic_head(SHAPE, grid_affine(SHAPE, rotation_deg=(0, 0, 30)), dtype=np.uint8)
    canonical = canonical_ras(labels, order=0)
    assert canonical.data.dtype == np.uint8
    assert set(np.unique(canonical.data)) <= set(np.unique(labels.data))


def test_resampled_grid_size_is_capped() -> None:
    scan = random_volume(SHAPE, grid_affine(SHAPE, rotation_deg=(10, 0, 0)))
    with pytest.raises(VolumeTooLargeError):
        canonical_ras(scan, max_voxels=1000)
