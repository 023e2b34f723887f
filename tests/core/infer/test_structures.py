"""A segmentation head with more structures than the hippocampus: volumes, HOC, CSV, TTA, QC names."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from volta_core.infer import Predictor
from volta_core.infer.export import CSV_COLUMNS, csv_row
from volta_core.contracts.prediction import hippocampal_occupancy, label_names_for, label_volumes_ml
from volta_core.infer.quality import NOT_A_HEAD, looks_like_head, quality_warnings
from volta_core.io import Volume, load_volume, sample_scan_path
from volta_core.contracts.model_card import ModelCard
from volta_core.model.bundle import save_bundle


def test_volumes_and_hoc_of_seven_classes() -> None:
    labels = np.zeros((10, 10, 10), dtype=np.uint8)
    labels[0, :4] = 1  # 40 voxels left hippocampus
    labels[1, :3] = 2  # 30 right
    labels[2, :2] = 3
    labels[3, :1] = 4
    labels[4, :1] = 5  # 10 voxels left inferior lateral ventricle
    affine = np.diag([2.0, 2.0, 2.0, 1.0])  # 8 uL voxels
    volumes = label_volumes_ml(labels, affine, 7)
    assert volumes["left"] == pytest.approx(0.32) and volumes["right"] == pytest.approx(0.24)
    assert volumes["amygdala_left"] == pytest.approx(0.16) and volumes["amygdala_right"] == pytest.approx(0.08)
    assert volumes["inferior_lateral_ventricle_left"] == pytest.approx(0.08)
    assert volumes["inferior_lateral_ventricle_right"] == 0.0
    hoc = hippocampal_occupancy(volumes)
    assert hoc == {"left": pytest.approx(0.32 / 0.40), "right": pytest.approx(1.0)}
    assert hippocampal_occupancy(label_volumes_ml(labels, affine)) is None  # hippocampus-only model
    assert label_names_for(7)[6] == "right inferior lateral ventricle" and len(label_names_for(3)) == 3


@pytest.fixture(scope="module")
def seven_class_bundle(trained_segmenter_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The trained tiny segmenter with four more output channels that never win (bias -5)."""
    state = load_file(str(trained_segmenter_bundle / "model.safetensors"))
    w, b = state["decoder.out.weight"], state["decoder.out.bias"]
    state["decoder.out.weight"] = torch.cat([w, w[1:3], w[1:3]])
    state["decoder.out.bias"] = torch.cat([b, b[1:3] - 5.0, b[1:3] - 5.0])
    card = json.loads((trained_segmenter_bundle / "model_card.json").read_text())
    card["architecture"]["num_classes"] = 7
    card["heads"]["segmentation"]["labels"] = {str(k): v for k, v in label_names_for(7).items()}
    return save_bundle(tmp_path_factory.mktemp("seven") / "seven", state, ModelCard.from_dict(card))


def test_seven_class_model_end_to_end(seven_class_bundle: Path, trained_segmenter_bundle: Path) -> None:
    scan = load_volume(sample_scan_path())
    three = Predictor.from_bundle(trained_segmenter_bundle, "cpu").predict(scan, tta=True)
    seven = Predictor.from_bundle(seven_class_bundle, "cpu").predict(scan, tta=True)
    assert seven.probabilities.shape[0] == 7
    # the extra channels never win; their small share of the softmax only moves near-ties
    assert np.count_nonzero(seven.labels != three.labels) <= 1e-5 * seven.labels.size
    assert seven.volumes_ml["left"] == pytest.approx(three.volumes_ml["left"], rel=0.01)
    assert seven.volumes_ml["amygdala_left"] == 0.0
    assert seven.hoc == {"left": 1.0, "right": 1.0} and three.hoc is None
    summary = seven.summary()
    assert summary["hippocampal_occupancy"] == {"left": 1.0, "right": 1.0}
    assert summary["labels"]["5"] == "left inferior lateral ventricle"
    row = csv_row(seven)
    assert list(row) == list(CSV_COLUMNS)
    assert row["hoc_left"] == "1.0000" and row["amygdala_right_ml"] == "0.0000"
    assert csv_row(three)["hoc_left"] == ""


def test_a_head_whose_registration_failed_is_not_called_not_a_head() -> None:
    scan = load_volume(sample_scan_path())
    assert looks_like_head(scan)
    blob = np.zeros((40, 40, 40), np.float32)
    blob[15:25, 15:25, 15:25] = 1.0
    assert not looks_like_head(Volume(blob, np.eye(4)))  # 10 mm: not a head
    body = np.ones((100, 100, 100), np.float32)
    assert not looks_like_head(Volume(body, np.diag([5.0, 5.0, 5.0, 1.0])))  # 500 mm: not a head
    noise = np.random.default_rng(0).random((80, 80, 80), dtype=np.float32)
    assert not looks_like_head(Volume(noise, np.diag([2.5, 2.5, 2.5, 1.0])))  # head-sized, but fills its box
    common = dict(registration_converged=True, template_correlation=0.5, ood_score=0.1, total_ml=6.0)
    failed = quality_warnings(registration_quality=NOT_A_HEAD / 2, head_like=True, **common)
    assert failed[0].startswith("registration failed") and "orientation" in failed[0] and "skull-strip" in failed[0]
    not_head = quality_warnings(registration_quality=NOT_A_HEAD / 2, head_like=False, **common)
    assert not_head[0].startswith("not a head")
