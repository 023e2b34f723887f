from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage

from volta_core.data.collate import SSLCollate
from volta_core.data.datasets import PretrainDataset, SyntheticVolumes
from volta_core.data.masking import block_mask
from volta_core.data.views import MultiViewCrop


def test_block_mask_hits_ratio_in_blocks():
    rng = np.random.default_rng(0)
    for _ in range(20):
        m = block_mask((6, 6, 6), 0.5, rng, max_block=3)
        assert m.sum() == 108  # exactly half of 216 tokens
    # blocks: far fewer connected pieces than a random mask with the same ratio
    block_parts = np.mean([ndimage.label(block_mask((8, 8, 8), 0.5, rng))[1] for _ in range(10)])
    random_parts = np.mean([ndimage.label((rng.permutation(512) < 256).reshape(8, 8, 8))[1] for _ in range(10)])
    assert block_parts < 0.5 * random_parts, (block_parts, random_parts)


def test_ssl_collate_batch_contract():
    vols = SyntheticVolumes(3, size=32, spacing=6.0, seed=0)
    ds = PretrainDataset(vols, MultiViewCrop(32, (0.5, 1.0)), seed=0)
    items = [ds[i] for i in range(3)]
    batch = SSLCollate(patch_size=8, mask_ratio=0.5)(items)
    g, m, t = batch["global_views"], batch["masked_views"], batch["token_masks"]
    assert g.shape == (6, 1, 32, 32, 32) and m.shape == g.shape
    assert t.shape == (6, 64) and t.dtype == torch.bool
    assert torch.all(t.float().mean(1) == 0.5)
    # view-major: rows 0..2 are the first views of items 0..2, rows 3..5 their second views
    assert torch.equal(g[1], items[1]["views"][0]) and torch.equal(g[4], items[1]["views"][1])
    # masked patches replaced by noise, others untouched (token order: depth-major, width fastest)
    vox = t.reshape(6, 4, 4, 4).repeat_interleave(8, 1).repeat_interleave(8, 2).repeat_interleave(8, 3)[:, None]
    assert torch.equal(m[~vox], g[~vox])
    assert (m[vox] != g[vox]).float().mean() > 0.99
    # the noise has each view's own mean and sd (16 k noise voxels per view: within a few %)
    for v in range(6):
        noise = m[v][vox[v]]
        assert abs(float(noise.mean() - g[v].mean())) < 0.05 * float(g[v].std())
        assert abs(float(noise.std() / g[v].std()) - 1.0) < 0.05
    # deterministic from the item seeds
    again = SSLCollate(patch_size=8, mask_ratio=0.5)([ds[i] for i in range(3)])
    assert torch.equal(again["masked_views"], m) and torch.equal(again["token_masks"], t)


def test_patchify_order_matches_collate_masks():
    from volta_core.model.patches import token_mask_to_voxel_mask

    mask = torch.from_numpy(block_mask((4, 4, 4), 0.5, np.random.default_rng(1)).reshape(1, -1))
    ours = torch.from_numpy(mask.numpy().reshape(4, 4, 4)).repeat_interleave(8, 0).repeat_interleave(8, 1).repeat_interleave(8, 2)
    assert torch.equal(token_mask_to_voxel_mask(mask, (4, 4, 4), 8)[0, 0], ours)
