"""The same head acquired differently gives the same hippocampus volumes (within 5 %).

Uses the real sample scan (fsaverage T1 with head) and a real trained tiny segmenter. Every
variant goes through registration, the model and the inverse map independently.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from tests.core.infer.conftest import reoriented_copy
from tests.helpers.synthetic import rotation_matrix
from volta_core.infer import Predictor
from volta_core.io import Volume, load_volume, sample_scan_path
from volta_core.preprocess.register import register_to_template
from volta_core.preprocess.resample import resample_array
from volta_core.preprocess.template import load_template


@pytest.fixture(scope="module")
def predictor(trained_segmenter_bundle):
    return Predictor.from_bundle(trained_segmenter_bundle, device="cpu")


@pytest.fixture(scope="module")
def scan() -> Volume:
    volume = load_volume(sample_scan_path())
    return Volume(volume.data.astype(np.float32), volume.affine, volume.metadata)


def rotated(volume: Volume, degrees: float) -> Volume:
    """The head tilted by ``degrees`` about the left-right axis in the scanner (exact: only the affine moves)."""
    turn = np.eye(4)
    turn[:3, :3] = rotation_matrix((degrees, 0.0, 0.0))
    centre = volume.voxel_to_world((np.asarray(volume.shape) - 1) / 2)
    shift_in, shift_out = np.eye(4), np.eye(4)
    shift_in[:3, 3], shift_out[:3, 3] = -centre, centre
    return Volume(volume.data, shift_out @ turn @ shift_in @ volume.affine, volume.metadata)


def resampled(volume: Volume, spacing: float) -> Volume:
    """The same field of view acquired at ``spacing`` mm (trilinear)."""
    old = np.asarray(volume.spacing)
    shape = tuple(int(round(s)) for s in np.asarray(volume.shape) * old / spacing)
    scale = np.diag([*(spacing / old), 1.0])
    data = ndimage.affine_transform(volume.data, scale[:3, :3], output_shape=shape, order=1)
    return Volume(data.astype(np.float32), volume.affine @ scale, volume.metadata)


def skull_stripped(volume: Volume) -> Volume:
    """Remove everything outside the (dilated) template brain mask warped onto the scan."""
    template = load_template()
    registration = register_to_template(volume, template)
    scan_to_mask = np.linalg.inv(template.mask.affine) @ np.linalg.inv(registration.template_to_scan) @ volume.affine
    brain = resample_array(template.mask.data, volume.shape, scan_to_mask, order=0) > 0
    # brain extraction keeps the whole brain and its CSF: a tight margin around the warped template
    # mask would cut cortex where this head is larger than the template, and change the fit
    brain = ndimage.binary_dilation(brain, iterations=8)
    return volume.with_data(np.where(brain, volume.data, 0).astype(np.float32))


def test_trained_model_finds_both_hippocampi(predictor, scan):
    pred = predictor.predict(scan)
    assert not any(w.startswith(("registration doubtful", "not a head")) for w in pred.quality.warnings)
    for side in ("left", "right"):
        assert 2.0 < pred.volumes_ml[side] < 10.0  # MNI-sized labels on an MNI-like average head
    # the left hippocampus lies on the subject's left (x < 0 in RAS), the right on the right
    for label, sign in ((1, -1), (2, 1)):
        centroid = scan.voxel_to_world(np.argwhere(pred.labels == label).mean(axis=0))
        assert np.sign(centroid[0]) == sign


@pytest.mark.parametrize("variant", ["rotated_10deg", "LAS", "RAS", "resampled_1.2mm", "skull_stripped"])
def test_volumes_agree_within_5_percent(predictor, scan, variant):
    reference = predictor.predict(scan).volumes_ml
    make = {
        "rotated_10deg": lambda v: rotated(v, 10.0),
        "LAS": lambda v: reoriented_copy(v, "LAS"),
        "RAS": lambda v: reoriented_copy(v, "RAS"),
        "resampled_1.2mm": lambda v: resampled(v, 1.2),
        "skull_stripped": skull_stripped,
    }[variant]
    other = predictor.predict(make(scan)).volumes_ml
    for side in ("left", "right"):
        assert other[side] == pytest.approx(reference[side], rel=0.05), (variant, side, reference, other)
