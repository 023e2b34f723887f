"""Resampling to a spacing and robust intensity normalisation."""

from __future__ import annotations

import numpy as np
import pytest

from tests.core.preprocess.synthetic import grid_affine
from volta_core.io.volume import Volume
from volta_core.preprocess.normalize import foreground_mask, percentile_normalise
from volta_core.preprocess.resample import ACQUIRED_SPACING, GridTooLargeError, resample_array, resample_to_spacing, subdivide_grid


def _ramp_volume(codes: str = "LIA") -> Volume:
    shape = (20, 24, 18)
    affine = grid_affine(codes, shape, (1.0, 1.0, 2.0), (3.0, -4.0, 5.0))
    idx = np.indices(shape).reshape(3, -1).T
    xyz = idx @ affine[:3, :3].T + affine[:3, 3]
    data = (xyz @ np.array([0.5, -1.0, 2.0]) + 100.0).reshape(shape).astype(np.float32)
    return Volume(data, affine)


def test_resample_to_spacing_keeps_world_geometry() -> None:
    volume = _ramp_volume()
    out = resample_to_spacing(volume, (1.5, 1.5, 1.5))
    assert np.allclose(out.volume.spacing, 1.5)
    assert out.volume.orientation == volume.orientation
    assert np.allclose(out.volume.affine[:3, 3], volume.affine[:3, 3])  # first voxel centre kept
    # trilinear interpolation reproduces a linear function of world position exactly
    idx = np.indices(out.volume.shape).reshape(3, -1).T
    xyz = out.volume.voxel_to_world(idx)
    expected = (xyz @ np.array([0.5, -1.0, 2.0]) + 100.0).reshape(out.volume.shape)
    assert np.allclose(out.volume.data, expected, atol=1e-3)


def test_subdivided_grid_tiles_the_old_voxels_and_keeps_linear_values() -> None:
    shape = (10, 12, 7)
    affine = grid_affine("LIA", shape, (1.0, 6.0, 1.0), (3.0, -4.0, 5.0), oblique_degrees=(10, 0, -5))
    idx = np.indices(shape).reshape(3, -1).T
    data = (idx @ np.array([0.5, -1.0, 2.0]) + 100.0).reshape(shape).astype(np.float32)
    volume = Volume(data, affine, {"note": "kept"})
    fine = subdivide_grid(volume)
    assert fine.shape == (10, 72, 7)
    assert np.allclose(fine.spacing, 1.0) and fine.orientation == volume.orientation
    # the six new voxels of each old one are centred on it, so they tile its footprint exactly
    new_centres = fine.voxel_to_world(np.array([[4, 6 * 5 + k, 3] for k in range(6)]))
    assert np.allclose(new_centres.mean(axis=0), volume.voxel_to_world(np.array([[4, 5, 3]]))[0])
    assert np.allclose(np.diff(new_centres, axis=0), new_centres[1] - new_centres[0])
    # values: linear along the divided axis inside, clamped at the edges (nothing invented beyond)
    old_index = (np.arange(72) + 0.5) / 6 - 0.5
    expected = 100.0 + 0.5 * 4 - 1.0 * np.clip(old_index, 0, 11) + 2.0 * 3
    assert np.allclose(fine.data[4, :, 3], expected, atol=1e-4)
    assert fine.metadata[ACQUIRED_SPACING] == pytest.approx((1.0, 6.0, 1.0))
    assert fine.metadata["note"] == "kept"
    assert subdivide_grid(fine) is fine  # already fine: nothing to do, the acquired size is not lost


def test_subdivided_grid_is_the_grid_a_block_average_came_from() -> None:
    from volta_core.train.heldout import thick_slices

    shape = (8, 9, 36)
    affine = grid_affine("RAS", shape, (1.0, 1.0, 1.0))
    thick = thick_slices(Volume(np.random.default_rng(0).random(shape, dtype=np.float32), affine), 6.0)
    fine = subdivide_grid(thick)
    assert fine.shape == shape and np.allclose(fine.affine, affine)
    assert subdivide_grid(Volume(np.zeros((4, 4, 4), np.float32), grid_affine("RAS", (4, 4, 4), (1.5, 1.3, 2.6))
                                 )).shape == (4, 4, 12)  # 1.5 and 1.3 mm stay, 2.6 mm becomes 3 x 0.87 mm
    with pytest.raises(ValueError):
        subdivide_grid(thick, 0.0)
    with pytest.raises(GridTooLargeError, match="8 x 9 x 36 voxels .*crop it to the head"):
        subdivide_grid(thick, max_voxels=2000)


def test_resample_record_inverts_to_the_original_grid() -> None:
    shape = (12, 10, 8)
    labels = np.zeros(shape, dtype=np.uint8)
    labels[3:9, 2:7, 1:6] = 4
    volume = Volume(labels, grid_affine("LAS", shape, (2.0, 2.0, 2.0)))
    up = resample_to_spacing(volume, (1.0, 1.0, 1.0), order=0)
    assert up.volume.shape == (23, 19, 15)
    assert up.volume.data.dtype == np.uint8
    back = up.record.invert(up.volume.data, order=0)
    assert back.shape == shape
    assert np.array_equal(back, labels)  # upsample + downsample with nearest is lossless
    with pytest.raises(ValueError):
        up.record.invert(labels)
    with pytest.raises(ValueError):
        resample_to_spacing(volume, (1.0, 0.0, 1.0))


def test_resample_array_block_limits_the_work() -> None:
    data = np.ones((10, 10, 10), dtype=np.float32)
    out = resample_array(data, (10, 10, 10), np.eye(4), order=1, fill=-1.0, block=((2, 3, 4), (5, 6, 7)))
    assert np.all(out[2:5, 3:6, 4:7] == 1.0)
    assert (out == 1.0).sum() == 27 and np.all(out[out != 1.0] == -1.0)
    with pytest.raises(ValueError):
        resample_array(data, (4, 4, 4), np.eye(4), order=3)


def test_percentile_normalisation_is_robust_to_outliers() -> None:
    rng = np.random.default_rng(0)
    data = np.zeros((40, 40, 40), dtype=np.float32)
    data[8:32, 8:32, 8:32] = rng.normal(300.0, 40.0, (24, 24, 24))
    clean = percentile_normalise(data)
    spiky = data.copy()
    spikes = rng.integers(8, 32, size=(10, 3))
    spiky[tuple(spikes.T)] = 1e6  # 10 hot voxels (0.07 % of the head), 3000x brighter
    robust = percentile_normalise(spiky)
    inside = np.ones_like(data, dtype=bool)
    inside[tuple(spikes.T)] = False
    assert np.abs(robust.data[inside] - clean.data[inside]).max() < 0.02
    assert robust.data.max() == 1.0 and robust.data.min() == 0.0  # clipped
    assert 185 < robust.record.low < 210 and 390 < robust.record.high < 415  # 300 -+ 2.58 sd
    # the air is not part of the statistics
    assert robust.record.foreground_voxels < 24**3 + 1
    values = np.array([300.0, 320.0], dtype=np.float32)
    assert np.allclose(robust.record.invert(robust.record.apply(values)), values, atol=1e-2)


def test_normalisation_mask_nan_and_constant() -> None:
    data = np.full((20, 20, 20), 10.0, dtype=np.float32)
    data[5:15, 5:15, 5:15] = np.linspace(0, 100, 1000, dtype=np.float32).reshape(10, 10, 10)
    mask = np.zeros_like(data, dtype=bool)
    mask[5:15, 5:15, 5:15] = True
    out = percentile_normalise(data, mask, low_percentile=0.0, high_percentile=100.0, clip=None)
    assert out.record.low == 0.0 and out.record.high == 100.0
    assert np.isclose(out.data[0, 0, 0], 0.1)
    with_nan = data.copy()
    with_nan[0, 0, 0] = np.nan
    assert np.isfinite(percentile_normalise(with_nan, mask).data).all()
    with pytest.raises(ValueError, match="constant"):
        percentile_normalise(np.ones((10, 10, 10), dtype=np.float32))
    with pytest.raises(ValueError):
        percentile_normalise(data, low_percentile=90, high_percentile=10)
    assert foreground_mask(data).sum() < data.size


def test_nearest_on_grid_keeps_label_values_and_fills_outside_with_zero() -> None:
    from volta_core.preprocess.resample import nearest_on_grid

    labels = np.zeros((10, 10, 10), dtype=np.int32)
    labels[2:5, 3:6, 4:7] = 17  # FreeSurfer values go past 255: they must come back exactly
    labels[6:8, 6:8, 6:8] = 53
    source = Volume(labels, np.diag([2.0, 2.0, 2.0, 1.0]))
    assert nearest_on_grid(source, source) is labels  # same grid: the data as they are
    # a 1 mm grid shifted by 5 mm: voxel (i, j, k) is at world (i+5, j+5, k+5) = source voxel (i+5)/2
    grid = Volume(np.zeros((30, 30, 30), np.float32), np.array([[1, 0, 0, 5], [0, 1, 0, 5], [0, 0, 1, 5], [0, 0, 0, 1]],
                                                                 dtype=np.float64))
    out = nearest_on_grid(source, grid)
    assert out.shape == grid.shape and out.dtype == np.int32
    assert set(np.unique(out)) == {0, 17, 53}
    assert out[0, 2, 4] == labels[2, 4, 4] == 17  # world (5, 7, 9) -> source voxel (2.5, 3.5, 4.5) rounds to even
    assert out[29, 29, 29] == 0  # world 34 mm: outside the 20 mm source
