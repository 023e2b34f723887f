"""Exact, interpolation-free steps: crop/pad and reorientation to RAS."""

from __future__ import annotations

import numpy as np
import pytest

from tests.core.preprocess.synthetic import grid_affine
from volta_core.io.volume import Volume
from volta_core.preprocess.crop import crop_or_pad, crop_window
from volta_core.preprocess.reorient import ras_reorientation, reorient_to_ras


@pytest.mark.parametrize(
    "shape, size, center",
    [
        ((10, 12, 14), (16, 16, 16), None),  # pad on every axis
        ((20, 22, 24), (8, 9, 10), None),  # crop on every axis
        ((20, 12, 24), (8, 16, 10), (3.0, 5.0, 20.0)),  # mixed, off-centre, partly outside
    ],
)
def test_crop_or_pad_round_trip(shape, size, center) -> None:
    rng = np.random.default_rng(0)
    data = rng.random((2, *shape)).astype(np.float32)  # a leading channel axis rides along
    cropped = crop_or_pad(data, size, center, fill=-1.0)
    assert cropped.data.shape == (2, *size)
    back = cropped.record.invert(cropped.data, fill=-7.0)
    assert back.shape == data.shape
    kept = back != -7.0
    # every voxel that survived is exactly the original; the rest were cut off by the window
    assert np.array_equal(back[kept], data[kept])
    start = np.asarray(cropped.record.start)
    idx = np.indices(shape).reshape(3, -1).T
    inside = np.all((idx >= start) & (idx < start + np.asarray(size)), axis=1).reshape(shape)
    assert np.array_equal(kept[0], inside)
    # the recorded shift says where each output voxel came from
    o = np.array([1, 2, 3])
    i = (cropped.record.output_to_input @ [*o, 1])[:3].astype(int)
    if np.all((i >= 0) & (i < np.asarray(shape))):
        assert cropped.data[0][tuple(o)] == data[0][tuple(i)]
    else:
        assert cropped.data[0][tuple(o)] == -1.0


def test_pad_then_invert_is_exact_and_window_is_centred() -> None:
    data = np.arange(5 * 6 * 7, dtype=np.int16).reshape(5, 6, 7)
    cropped = crop_or_pad(data, (9, 10, 11))
    assert np.array_equal(cropped.record.invert(cropped.data), data)
    assert cropped.record.start == (-2, -2, -2)
    with pytest.raises(ValueError):
        crop_window((5, 6, 7), (0, 4, 4))
    with pytest.raises(ValueError):
        cropped.record.invert(data)


@pytest.mark.parametrize("codes", ["RAS", "LAS", "LIA", "PSR", "ILP"])
def test_reorient_to_ras_is_exact(codes: str) -> None:
    shape = (6, 7, 8)
    affine = grid_affine(codes, shape, (1.0, 2.0, 3.0), (5.0, -3.0, 2.0))
    data = np.random.default_rng(1).random(shape).astype(np.float32)
    volume = Volume(data, affine)
    out = reorient_to_ras(volume)
    assert out.volume.orientation == ("R", "A", "S")
    assert out.record.is_identity == (codes == "RAS")
    # every voxel keeps its world position: same value at the same mm
    idx = np.indices(shape).reshape(3, -1).T
    world = volume.voxel_to_world(idx)
    new_idx = np.round(out.volume.world_to_voxel(world)).astype(int)
    assert np.array_equal(out.volume.data[tuple(new_idx.T)], data.reshape(-1))
    assert np.allclose(out.record.input_to_output @ np.r_[idx[5], 1], np.r_[new_idx[5], 1])
    assert np.array_equal(out.record.invert(out.volume.data), data)
    stacked = np.stack([data, 2 * data])  # (C, I, J, K) arrays invert the same way
    assert np.array_equal(out.record.invert(out.record.apply(stacked)), stacked)


def test_reorient_oblique_keeps_residual_rotation() -> None:
    shape = (6, 7, 8)
    affine = grid_affine("LIA", shape, (1.0, 1.0, 1.0), oblique_degrees=(15.0, 0.0, 10.0))
    record = ras_reorientation(shape, affine)
    assert record.permutation == (0, 2, 1) and record.flips == (True, False, True)
    out_direction = record.output_affine[:3, :3]
    assert np.all(np.diag(out_direction) > 0.9)  # nearest to RAS, still rotated
    assert not np.allclose(out_direction, np.diag(np.diag(out_direction)))
