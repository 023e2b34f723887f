from __future__ import annotations

import numpy as np
import pytest

from volta_core.data.datasets import PreparedVolumes
from volta_core.data.manifest import index_dataset
from volta_core.data.prepare import input_spec, prepare_sample
from volta_core.io import Volume
from volta_core.preprocess.normalize import foreground_mask
from volta_core.preprocess.pipeline import preprocess


def test_training_sees_exactly_what_inference_sees():
    """prepare_sample (training) and preprocess (the predictor) give identical model inputs."""
    rng = np.random.default_rng(3)
    img = rng.random((30, 34, 28)).astype(np.float32) * 500
    las = np.diag([-2.0, 2.0, 2.0, 1.0])
    for normalisation in ("percentile", "zscore"):
        train = prepare_sample(img, las, spacing=3.0, size=16, normalisation=normalisation)
        spec = input_spec(spacing=3.0, size=16, normalisation=normalisation)
        infer = preprocess(Volume(img, las), spec)
        np.testing.assert_array_equal(train.image, infer.data)
        np.testing.assert_allclose(train.affine, infer.affine)


def test_prepare_shapes_ranges_and_world_mapping():
    rng = np.random.default_rng(0)
    img = rng.random((40, 50, 30)).astype(np.float32) * 1000
    mask = np.zeros(img.shape, np.uint8)
    mask[18:22, 20:30, 10:20] = 2
    aff = np.diag([-2.0, 2.0, 2.0, 1.0])
    p = prepare_sample(img, aff, spacing=3.0, size=24, mask=mask)
    assert p.image.shape == (24, 24, 24) and p.image.dtype == np.float32
    assert 0.0 <= p.image.min() and p.image.max() <= 1.0
    assert set(np.unique(p.mask)) <= {0, 2}
    np.testing.assert_allclose(np.linalg.norm(p.affine[:3, :3], axis=0), 3.0)
    # a labelled model voxel maps into the labelled region of the source scan
    ijk = np.argwhere(p.mask == 2)[0]
    src = np.linalg.inv(aff) @ p.affine @ [*ijk, 1]
    assert mask[tuple(np.round(src[:3]).astype(int))] == 2


def test_zscore_and_bad_method():
    img = np.random.default_rng(1).random((10, 10, 10)).astype(np.float32)
    p = prepare_sample(img, np.eye(4), spacing=1.0, size=10, normalisation="zscore")
    inside = foreground_mask(img)  # z-scored inside the head/brain, like the percentiles
    assert abs(float(p.image[inside].mean())) < 1e-4 and abs(float(p.image[inside].std()) - 1) < 1e-3
    with pytest.raises(ValueError, match="normalisation"):
        prepare_sample(img, np.eye(4), spacing=1.0, size=10, normalisation="minmax")


def test_left_label_ends_on_the_left_whatever_the_storage_orientation(synth_root):
    # synthetic subjects 2 and 4 are stored LAS, 1 and 3 RAS
    vols = PreparedVolumes(index_dataset(synth_root).records, spacing=5.0, size=32, with_masks=True)
    for i in range(len(vols)):
        m = vols[i].mask
        left_x = np.argwhere(m == 1)[:, 0].mean()
        right_x = np.argwhere(m == 2)[:, 0].mean()
        assert left_x < 16 < right_x, (i, left_x, right_x)
