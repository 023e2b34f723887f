"""End to end: preprocess a scan, then map model-space predictions back onto its own grid."""

from __future__ import annotations

import numpy as np
import pytest

from tests.core.preprocess.conftest import BRAIN_CENTER_MM
from tests.core.preprocess.synthetic import (
    grid_affine,
    rotation,
    scan_from_template,
    similarity_matrix,
    synthetic_head,
)
from volta_core.io.volume import Volume
from volta_core.preprocess.pipeline import ModelInputSpec, antialias_sigmas, preprocess
from volta_core.preprocess.template import Template
from volta_core.preprocess.transforms import SpatialRecord

TRUE = similarity_matrix((5.0, 0.0, 8.0), (4.0, -3.0, 6.0), 1.0, BRAIN_CENTER_MM)


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return float(2.0 * np.logical_and(a, b).sum() / (a.sum() + b.sum()))


def _hippocampus_sized_mask(volume: Volume, center_mm: np.ndarray) -> np.ndarray:
    """A tilted 40 x 20 x 20 mm ellipsoid, defined on the scan's own (1 mm) grid."""
    center_voxel = np.round(volume.world_to_voxel(center_mm)).astype(int)
    lo = np.maximum(center_voxel - 30, 0)
    hi = np.minimum(center_voxel + 31, volume.shape)
    idx = np.indices(tuple(hi - lo)).reshape(3, -1).T + lo
    offset = (volume.voxel_to_world(idx) - center_mm) @ rotation((0.0, 0.0, 20.0))
    inside = ((offset / np.array([10.0, 20.0, 10.0])) ** 2).sum(axis=1) <= 1.0
    mask = np.zeros(volume.shape, dtype=bool)
    mask[tuple(idx[inside].T)] = True
    assert not mask[lo[0]].any() and not mask[hi[0] - 1].any()  # the window held the whole ellipsoid
    return mask


@pytest.mark.parametrize(
    "codes, oblique",
    [("RAS", (0, 0, 0)), ("LAS", (0, 0, 0)), ("LIA", (0, 0, 0)), ("RAS", (15, 0, 10))],
    ids=["RAS", "LAS", "LIA", "oblique-15deg"],
)
def test_native_mask_survives_forward_and_inverse(template: Template, codes: str, oblique) -> None:
    shape = (150, 180, 150) if codes != "LIA" else (150, 150, 180)
    affine = grid_affine(codes, shape, (1.0, 1.0, 1.0), BRAIN_CENTER_MM, oblique)
    scan = scan_from_template(template, TRUE, affine, shape, skull=True)
    assert "".join(scan.orientation) == codes
    result = preprocess(scan, template=template)  # registers, resamples, normalises
    record = result.record
    assert result.data.shape == (128, 128, 128) and result.data.dtype == np.float32
    assert record.registration is not None and record.registration.quality > 0.9
    assert 0.0 <= result.data.min() and result.data.max() <= 1.0

    left_hippocampus_mm = (TRUE @ [-25.0, -25.0, -12.0, 1.0])[:3]
    mask = _hippocampus_sized_mask(scan, left_hippocampus_mm)
    # what a model would predict: the mask seen on the model grid, as labels and probabilities
    soft = record.to_model(mask.astype(np.float32), order=1)
    labels = (soft >= 0.5).astype(np.uint8)
    back = record.invert_labels(labels)
    assert back.shape == scan.shape and back.dtype == np.uint8
    assert _dice(back > 0, mask) > 0.95
    assert _dice(record.invert_labels(labels, method="nearest") > 0, mask) > 0.93
    probabilities = record.invert_probabilities(np.stack([1.0 - soft, soft]))
    assert probabilities.shape == (2, *scan.shape)
    assert np.allclose(probabilities.sum(axis=0), 1.0, atol=1e-5)
    assert _dice(probabilities[1] >= 0.5, mask) > 0.97

    # the mask sits where the template's left hippocampus is, in model space
    model_centroid = np.argwhere(labels).mean(axis=0)
    assert np.linalg.norm(result.affine[:3, :3] @ model_centroid + result.affine[:3, 3] - [-25, -25, -12]) < 2.0


def test_native_space_multi_label_round_trip() -> None:
    head = synthetic_head((70, 80, 70), spacing=2.5, orientation="PSR")
    spec = ModelInputSpec(spacing=(2.0, 2.0, 2.0), size=(96, 112, 96), space="native")
    result = preprocess(head.volume, spec)
    record = result.record
    assert record.registration is None and result.timings["register"] < 0.5
    assert np.allclose(result.affine[:3, :3], np.diag([2.0, 2.0, 2.0]))  # RAS-aligned model grid
    model_labels = record.to_model(head.labels, order=0)
    assert set(np.unique(model_labels)) == {0, 1, 2, 17, 53}
    back = record.invert_labels(model_labels)
    assert back.shape == head.labels.shape
    for value in (2, 17, 53):
        assert _dice(back == value, head.labels == value) > 0.85, value
    # left hippocampus (17) stays on the subject's left (x < 0) through every flip
    left_voxels = np.argwhere(back == 17)
    assert (head.volume.voxel_to_world(left_voxels)[:, 0] < 0).all()
    # model-space image is in RAS order: the left hippocampus is at low x indices
    assert np.argwhere(model_labels == 17)[:, 0].mean() < np.argwhere(model_labels == 53)[:, 0].mean()
    # points map both ways
    ijk = np.array([[10.0, 20.0, 30.0]])
    assert np.allclose(record.spatial.native_voxels_to_model_voxels(record.spatial.model_voxels_to_native_voxels(ijk)), ijk)
    # a block of the scan grid: the same values as the whole-scan inverse there, and nothing else computed
    spatial = record.spatial
    weights = (model_labels == 17).astype(np.float32)
    idx = np.argwhere(weights > 0)
    box = (idx.min(0) - 1.0, idx.max(0) + 1.0)
    block = spatial.native_block(box)
    part = spatial.to_native_block(weights, block, order=1)
    assert part.shape == tuple(b.stop - b.start for b in block) and part.size < head.labels.size
    assert np.array_equal(part, spatial.to_native(weights, order=1, model_box=box)[block])


def test_roi_spec_reuses_registration_and_record_serialises(template: Template) -> None:
    shape = (110, 128, 110)
    scan = scan_from_template(template, TRUE, grid_affine("LAS", shape, (1.5,) * 3, BRAIN_CENTER_MM), shape)
    whole = preprocess(scan, template=template)
    spec = ModelInputSpec(spacing=(1.0, 1.0, 1.0), size=(96, 64, 64), roi="hippocampus")
    roi = preprocess(scan, spec, template=template, registration=whole.record.registration)
    center = roi.affine[:3, :3] @ (np.array(spec.size) - 1) / 2 + roi.affine[:3, 3]
    assert np.allclose(center, template.roi("hippocampus").center_mm)
    assert roi.record.registration is whole.record.registration
    spatial = SpatialRecord.from_dict(roi.record.spatial.to_dict())
    assert np.allclose(spatial.model_to_native, roi.record.spatial.model_to_native)
    labels = np.zeros(spec.size, dtype=np.int16)
    labels[30:60, 20:40, 20:40] = 17
    assert np.array_equal(spatial.invert_labels(labels), roi.record.invert_labels(labels))
    assert roi.record.as_native_volume(roi.record.invert_labels(labels), scan).same_grid(scan)


def test_bad_inputs_raise_clear_errors(template: Template) -> None:
    with pytest.raises(ValueError, match="RAS"):
        ModelInputSpec(orientation="LPS")
    with pytest.raises(ValueError, match="template"):
        ModelInputSpec(space="native", roi="hippocampus")
    with pytest.raises(ValueError, match="size"):
        ModelInputSpec(size=(0, 64, 64))
    head = synthetic_head((30, 30, 30), spacing=6.0)
    result = preprocess(head.volume, ModelInputSpec(size=(32, 32, 32), spacing=(6.0,) * 3, space="native"))
    with pytest.raises(ValueError, match="model grid"):
        result.record.invert_labels(np.zeros((10, 10, 10), dtype=np.uint8))
    with pytest.raises(ValueError, match="integers"):
        result.record.invert_labels(np.zeros((32, 32, 32), dtype=np.float32))
    with pytest.raises(ValueError, match="C, X, Y, Z"):
        result.record.invert_probabilities(np.zeros((32, 32, 32), dtype=np.float32))
    assert not result.record.invert_labels(np.zeros((32, 32, 32), dtype=np.uint8)).any()


def test_real_sample_scan_with_skull_and_neck(template: Template) -> None:
    """fsaverage (MNI305, 256^3 LIA, head and neck) lands within a few mm of MNI152 anatomy."""
    import nibabel as nib

    from volta_core.preprocess.template import default_template_dir

    sample = default_template_dir().parents[0] / "sample" / "fsaverage_T1.mgz"
    if not sample.is_file():
        pytest.skip("resources/sample/fsaverage_T1.mgz is not present")
    image = nib.load(str(sample))
    scan = Volume(np.asanyarray(image.dataobj), image.affine)
    result = preprocess(scan, template=template)
    registration = result.record.registration
    assert registration is not None and registration.is_reliable and registration.quality > 0.65
    # MNI305 and MNI152 differ by a few percent and a few mm: hippocampi within 4 mm
    hippocampi = np.array([[-25.0, -22.0, -14.0], [27.0, -21.0, -14.0]])
    assert np.abs(registration.template_to_scan_points(hippocampi) - hippocampi).max() < 4.0
    scale = np.linalg.det(registration.template_to_scan[:3, :3]) ** (1 / 3)
    assert 0.9 < scale < 1.1
    labels = np.zeros((128, 128, 128), dtype=np.uint8)
    labels[40:50, 50:70, 40:50] = 17
    back = result.record.invert_labels(labels)
    assert back.shape == (256, 256, 256)
    # 10 x 20 x 10 voxels of 1.5 mm = 6.75 mL, scaled by the registration's volume change
    assert abs(back.astype(bool).sum() / 1000.0 - 6.75 * scale**3) < 0.3


def test_antialiasing_suppresses_fine_texture() -> None:
    # 1 mm stripes of period 2 mm along x on a 1 mm scan: finer than the 1.5 mm model grid
    shape = (64, 64, 64)
    stripes = np.zeros(shape, dtype=np.float32)
    stripes[::2] = 1.0
    scan = Volume(stripes + 1.0, grid_affine("LAS", shape, (1.0, 1.0, 1.0)))
    spec = ModelInputSpec(spacing=(1.5, 1.5, 1.5), size=(32, 32, 32), space="native", normalisation="none")
    plain = preprocess(scan, ModelInputSpec(**{**spec.__dict__, "antialias": False})).data
    smooth = preprocess(scan, spec)
    assert np.allclose(antialias_sigmas(smooth.record.spatial), np.sqrt(1.5**2 - 1) / 2)
    # aliasing shows up as a spurious pattern in the model grid; the mean stays 1.5
    assert plain.std() > 0.2
    assert smooth.data.std() < 0.5 * plain.std()
    assert abs(smooth.data.mean() - 1.5) < 0.05 and abs(plain.mean() - 1.5) < 0.1
    # a 1 mm scan resampled to 1 mm is not smoothed
    same = ModelInputSpec(spacing=(1.0, 1.0, 1.0), size=(32, 32, 32), space="native", normalisation="none")
    assert np.array_equal(preprocess(scan, same).data, preprocess(scan, ModelInputSpec(**{**same.__dict__, "antialias": False})).data)
