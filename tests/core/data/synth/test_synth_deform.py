from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from volta_core.data.synth import fs_labels as fsl
from volta_core.data.synth.deform import (AffineParams, output_affine, random_displacement, sampling_grid,
                                          warp)
from volta_core.data.synth.intensity import gaussian_blur, simulate_thick_slices
from volta_core.data.synth.interp import resample_axis, upsample

SHAPE = (36, 40, 36)
SPACING = 4.0


def _grid(src, params, flip=False, disp=None):
    centre = src.brain_centre
    centre_in = centre.copy()
    if flip:
        centre_in[0] = 2 * src.midline_x - centre[0]
    out_aff = output_affine(SHAPE, SPACING, centre)
    grid = sampling_grid(out_aff, SHAPE, src.affine, src.labels.shape, params, centre, centre_in,
                         src.midline_x if flip else None, disp)
    return out_aff, grid


def _nearest_reference(src, out_aff, matrix, centre, centre_in, translation, flip):
    """Independent numpy/nibabel-style mapping: output voxel -> world -> source voxel (nearest)."""
    idx = np.indices(SHAPE).reshape(3, -1).astype(np.float64)
    world = out_aff[:3, :3] @ idx + out_aff[:3, 3:4]
    q = matrix @ (world - centre[:, None]) + centre_in[:, None] + np.asarray(translation)[:, None]
    if flip:
        q[0] = 2 * src.midline_x - q[0]
    vox = np.linalg.inv(src.affine)[:3, :3] @ q + np.linalg.inv(src.affine)[:3, 3:4]
    vox = np.round(vox).astype(int)
    inside = np.all((vox >= 0) & (vox < np.array(src.labels.shape)[:, None]), axis=0)
    ref = np.zeros(vox.shape[1], dtype=np.int64)
    ref[inside] = src.labels[vox[0, inside], vox[1, inside], vox[2, inside]]
    return ref.reshape(SHAPE)


def test_grid_matches_world_space_mapping(synth_lib_dk) -> None:
    src = synth_lib_dk.sources()[0]
    labels = torch.from_numpy(src.labels.astype(np.float32))[None, None]
    for flip in (False, True):
        params = AffineParams((10.0, -7.0, 5.0), (1.1, 0.9, 1.05), (0.03, -0.02, 0.01), (3.0, -2.0, 4.0))
        out_aff, grid = _grid(src, params, flip)
        got = warp(labels, grid, "nearest")[0, 0].round().long().numpy()
        centre = src.brain_centre
        centre_in = centre.copy()
        if flip:
            centre_in[0] = 2 * src.midline_x - centre[0]
        ref = _nearest_reference(src, out_aff, params.matrix(), centre, centre_in, params.translation_mm, flip)
        agree = np.mean(got == ref)
        assert agree > 0.995, f"flip={flip}: only {agree:.4f} of voxels agree with the world-space reference"


def test_image_and_labels_stay_aligned_after_warp(synth_lib_dk) -> None:
    src = synth_lib_dk.sources()[0]
    table = np.arange(fsl.N_LABELS, dtype=np.float32) * 10.0  # fixed intensity per label
    labels = torch.from_numpy(src.labels.astype(np.float32))[None, None]
    image = torch.from_numpy(table[src.labels])[None, None]
    gen = torch.Generator().manual_seed(3)
    disp = random_displacement(6.0, 5, gen)
    params = AffineParams((12.0, 4.0, -9.0), (0.9, 1.1, 1.0), (0.04, 0.0, -0.03), (2.0, 1.0, -3.0))
    _, grid = _grid(src, params, flip=True, disp=disp)
    lab = warp(labels, grid, "nearest")[0, 0].round().long().numpy()
    img = warp(image, grid, "bilinear")[0, 0].numpy()
    # interior voxels: the whole 3x3x3 neighbourhood has one label
    uniform = (ndimage.maximum_filter(lab, 3) == ndimage.minimum_filter(lab, 3)) & (lab > 0)
    assert uniform.sum() > 300
    match = np.abs(img - table[lab]) < 1e-3
    assert match[uniform].mean() > 0.99
    # a misaligned image (one voxel shift) would not match
    shifted = np.roll(img, 1, axis=0)
    assert (np.abs(shifted - table[lab]) < 1e-3)[uniform].mean() < match[uniform].mean() - 0.05


def test_displacement_is_smooth_and_bounded() -> None:
    gen = torch.Generator().manual_seed(0)
    coarse = random_displacement(3.0, 6, gen)
    field = upsample(coarse, (30, 30, 30))
    assert field.shape == (3, 30, 30, 30)
    assert float(field.abs().max()) <= float(coarse.abs().max()) + 1e-5
    assert float((field[:, 1:] - field[:, :-1]).abs().max()) < 0.5 * float(coarse.abs().max()) + 1e-6


def test_fast_interp_and_blur_match_references() -> None:
    gen = torch.Generator().manual_seed(1)
    coarse = torch.randn(2, 4, 5, 6, generator=gen)
    ref = F.interpolate(coarse[None], size=(17, 19, 23), mode="trilinear", align_corners=True)[0]
    assert torch.allclose(upsample(coarse, (17, 19, 23)), ref, atol=1e-5)
    assert torch.allclose(upsample(coarse, (17, 19, 23), channels_last=True), ref.permute(1, 2, 3, 0), atol=1e-5)
    vol = torch.rand(20, 22, 24, generator=gen)
    ref1 = F.interpolate(vol[None, None], size=(20, 9, 24), mode="trilinear", align_corners=True)[0, 0]
    assert torch.allclose(resample_axis(vol, 1, 9), ref1, atol=1e-5)
    sig = (1.2, 0.0, 2.0)
    ref_blur = ndimage.gaussian_filter(vol.numpy().astype(np.float64), sig, mode="nearest", truncate=3.0)
    np.testing.assert_allclose(gaussian_blur(vol, sig).numpy(), ref_blur, atol=2e-3)


def test_thick_slices_blur_only_their_axis() -> None:
    gen = torch.Generator().manual_seed(2)
    profile = torch.rand(32, generator=gen)
    across = profile.view(32, 1, 1).expand(32, 32, 32).contiguous()  # varies along axis 0 only
    along = profile.view(1, 1, 32).expand(32, 32, 32).contiguous()  # varies along axis 2 only
    assert torch.allclose(simulate_thick_slices(across, axis=2, thickness_mm=6.0, spacing_mm=1.0), across, atol=1e-5)
    out = simulate_thick_slices(along, axis=2, thickness_mm=6.0, spacing_mm=1.0)
    assert out.shape == along.shape
    d = lambda x: float((x[..., 1:] - x[..., :-1]).abs().mean())  # noqa: E731
    assert d(out) < 0.3 * d(along)
    assert torch.equal(simulate_thick_slices(along, 0, 1.0, 1.5), along)
