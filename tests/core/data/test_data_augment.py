from __future__ import annotations

import numpy as np

from volta_core.data.augment import (
    Compose, RandomAffine, RandomBiasField, RandomBlur, RandomFlip, RandomGamma, RandomNoise, supervised_augmentations,
)


def _sample():
    img = np.random.default_rng(0).random((16, 16, 16)).astype(np.float32)
    mask = np.zeros((16, 16, 16), np.int64)
    mask[2:5, 6:10, 6:10] = 1  # left (low x in RAS)
    mask[11:14, 6:10, 6:10] = 2  # right
    return {"image": img, "mask": mask}


def test_left_right_flip_swaps_labels():
    s = _sample()
    out = RandomFlip(p=1.0, axes=(0,))(s, np.random.default_rng(0))
    assert np.argwhere(out["mask"] == 1)[:, 0].mean() < 8  # label 1 is still on the left ...
    assert np.argwhere(out["mask"] == 2)[:, 0].mean() > 8
    np.testing.assert_array_equal(out["image"], s["image"][::-1])
    # ... because the anatomy moved: the old right structure is now labelled left
    np.testing.assert_array_equal(out["mask"][2:5] == 1, s["mask"][11:14][::-1] == 2)


def test_flip_of_other_axes_keeps_labels():
    s = _sample()
    out = RandomFlip(p=1.0, axes=(1, 2))(s, np.random.default_rng(0))
    np.testing.assert_array_equal(out["mask"], s["mask"][:, ::-1, ::-1])


def test_affine_is_linear_for_image_nearest_for_mask():
    s = _sample()
    out = RandomAffine(p=1.0, max_rotation=20, scale=(0.9, 1.1))(s, np.random.default_rng(3))
    assert out["image"].shape == s["image"].shape
    assert set(np.unique(out["mask"])) <= {0, 1, 2} and (out["mask"] == 1).sum() > 0
    assert not np.array_equal(out["image"], s["image"])
    # linear interpolation creates values never present in the input, nearest does not
    assert len(np.unique(out["image"])) > 100


def test_intensity_transforms_are_seeded_and_shape_preserving():
    s = _sample()
    t = Compose([RandomGamma(p=1), RandomBiasField(p=1), RandomBlur(p=1), RandomNoise(p=1, std=(0.01, 0.02))])
    a, b = t(s, np.random.default_rng(7)), t(s, np.random.default_rng(7))
    np.testing.assert_array_equal(a["image"], b["image"])
    np.testing.assert_array_equal(a["mask"], s["mask"])
    assert a["image"].shape == (16, 16, 16) and a["image"].dtype == np.float32
    assert not np.allclose(a["image"], s["image"])


def test_supervised_pipeline_keeps_label_set():
    out = supervised_augmentations()(_sample(), np.random.default_rng(1))
    assert set(np.unique(out["mask"])) <= {0, 1, 2}
