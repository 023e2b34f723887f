"""Predictor end to end on a real (template) brain image with a real tiny bundle."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from tests.core.infer.conftest import reoriented_copy
from volta_core.infer import PredictionCancelled, Predictor
from volta_core.contracts.prediction import NOT_TRAINED, asymmetry_index, label_volumes_ml
from volta_core.infer.predictor import STAGES
from volta_core.contracts.model_card import BundleError


@pytest.fixture(scope="module")
def predictor(tiny_bundle):
    return Predictor.from_bundle(tiny_bundle, device="cpu")


def test_outputs_lie_on_the_scans_own_grid(predictor, template_scan):
    scan = reoriented_copy(template_scan, "LIA")
    stages: list[str] = []
    pred = predictor.predict(scan, progress=lambda stage, frac: stages.append(stage), name="lia")
    assert pred.labels.shape == scan.shape and pred.labels.dtype == np.uint8
    assert pred.probabilities.shape == (3, *scan.shape)
    np.testing.assert_allclose(pred.affine, scan.affine)
    sums = pred.probabilities.astype(np.float32).sum(axis=0)
    np.testing.assert_allclose(sums, 1.0, atol=2e-2)
    assert set(np.unique(pred.labels)) <= {0, 1, 2}
    assert [s for s in STAGES if s in stages] == list(STAGES)  # every stage reported, in order
    assert pred.volumes_ml == label_volumes_ml(pred.labels, scan.affine)
    assert pred.scan == "lia"
    # the template registered to itself: near-perfect quality, positive T1 correlation, ICV ~ template brain
    assert pred.quality.registration_quality is not None and pred.quality.registration_quality > 0.8
    assert pred.quality.template_correlation is not None and pred.quality.template_correlation > 0.8
    assert 1000 < pred.icv_ml < 2000
    assert not any("contrast" in w or "registration" in w for w in pred.quality.warnings)
    assert "the segmentation head of this model is not trained" in pred.quality.warnings


def test_untrained_classification_heads_say_so(predictor, template_scan):
    pred = predictor.predict(template_scan)
    for head in ("sex", "ad"):
        result = pred.classification[head]
        assert not result.trained and result.probability is None
        assert result.display() == NOT_TRAINED
    summary = pred.summary()
    assert summary["classification"]["ad"]["probability"] is None
    assert "research use only" in summary["intended_use"]


def test_inverted_contrast_is_flagged(predictor, template_scan):
    data = template_scan.data
    brain = data > 0
    inverted = np.where(brain, data.max() - data, 0).astype(np.float32)  # T2-like: CSF bright, WM dark
    pred = predictor.predict(template_scan.with_data(inverted))
    assert pred.quality.template_correlation is not None and pred.quality.template_correlation < 0
    assert any(w.startswith("wrong contrast") for w in pred.quality.warnings)


def test_noise_is_not_a_head(predictor, template_scan):
    rng = np.random.default_rng(0)
    noise = rng.random(template_scan.shape, dtype=np.float32)
    pred = predictor.predict(template_scan.with_data(noise))
    assert any(w.startswith(("not a head", "registration doubtful")) for w in pred.quality.warnings)


def test_cancel_stops_before_any_work(predictor, template_scan):
    event = threading.Event()
    event.set()
    with pytest.raises(PredictionCancelled):
        predictor.predict(template_scan, cancel=event)


def test_cancel_between_stages(predictor, template_scan):
    seen: list[str] = []

    def progress(stage: str, fraction: float) -> None:
        seen.append(stage)

    with pytest.raises(PredictionCancelled):
        predictor.predict(template_scan, progress=progress, cancel=lambda: "model" in seen)
    assert "inverse" not in seen


def test_flip_tta_makes_the_model_mirror_equivariant(predictor, template_scan):
    """With TTA, segmenting the mirrored input gives the mirrored result with left/right swapped."""
    data = np.random.default_rng(1).random(predictor.spec.size, dtype=np.float32)
    seg, _, _ = predictor._run_network(data, tta=True)
    seg_mirror, _, _ = predictor._run_network(np.ascontiguousarray(data[::-1]), tta=True)
    np.testing.assert_allclose(seg_mirror, seg[[0, 2, 1], ::-1], atol=1e-5)
    seg_plain, _, _ = predictor._run_network(np.ascontiguousarray(data[::-1]), tta=False)
    assert not np.allclose(seg_plain, seg[[0, 2, 1], ::-1], atol=1e-5)  # a random model is not symmetric


def test_asymmetry_index():
    assert asymmetry_index(3.0, 3.0) == 0
    assert asymmetry_index(4.0, 2.0) == pytest.approx(2.0 / 3.0)
    assert asymmetry_index(0.0, 0.0) is None


def test_damaged_bundle_is_refused(tmp_path, tiny_bundle):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(tiny_bundle, broken)
    (broken / "model.safetensors").write_bytes(b"not weights")
    with pytest.raises(BundleError):
        Predictor.from_bundle(broken, device="cpu")


def test_unavailable_device_is_a_clear_error(tiny_bundle):
    from volta_core.model.device import DeviceError

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(DeviceError, match="cpu"):
        Predictor.from_bundle(tiny_bundle, device="cuda")
