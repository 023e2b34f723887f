"""The torch-free contract: what the GUI and the engine share, readable without torch or nibabel."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from volta_core.contracts.events import ENDINGS, EVENTS, METRICS_FILE
from volta_core.contracts.model_card import CARD_FILE, BundleError, ModelCard, read_card, read_card_dict
from volta_core.contracts.prediction import (
    LABEL_NAMES,
    asymmetry_index,
    hippocampal_occupancy,
    label_names_for,
    label_volumes_ml,
)
from volta_core.contracts.resources import configs_dir, install_root, resources_root

REPO = Path(__file__).resolve().parents[3]
BUNDLED = REPO / "resources" / "models" / "volta3d-hippocampus"


def test_the_contracts_and_app_state_load_neither_torch_nor_the_image_libraries() -> None:
    code = ("import sys, volta_core.contracts.prediction, volta_core.contracts.model_card, "
            "volta_core.contracts.events, volta_core.contracts.resources, app.state.results, "
            "app.state.model_catalog, app.state.job_progress, app.state.lab_dataset; "
            "print(*[m in sys.modules for m in ('torch', 'nibabel', 'SimpleITK', 'scipy')])")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=60, check=True)
    assert result.stdout.split() == ["False"] * 4


def test_the_bundled_card_reads_as_a_card_and_as_plain_json() -> None:
    card = read_card(BUNDLED)
    assert isinstance(card, ModelCard) and card.heads["segmentation"]["trained"]
    assert read_card_dict(BUNDLED)["name"] == card.name
    # the shipped model segments hippocampus, amygdala and inferior lateral ventricle, named as predictions name them
    assert card.segmentation_classes == 7
    assert card.heads["segmentation"]["labels"] == {str(k): v for k, v in label_names_for(7).items()}
    assert {str(k): v for k, v in LABEL_NAMES.items()}.items() <= card.heads["segmentation"]["labels"].items()


def test_a_damaged_card_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match=f"{CARD_FILE} is missing"):
        read_card_dict(tmp_path)
    (tmp_path / CARD_FILE).write_text("{not json", encoding="utf-8")
    with pytest.raises(BundleError, match="not valid JSON"):
        read_card(tmp_path)
    (tmp_path / CARD_FILE).write_text(json.dumps([1, 2]), encoding="utf-8")
    with pytest.raises(BundleError, match="does not hold a model card"):
        read_card_dict(tmp_path)
    with pytest.raises(BundleError, match="must be a JSON object"):
        read_card(tmp_path)


def test_volumes_asymmetry_and_hoc_from_a_label_map() -> None:
    labels = np.zeros((4, 4, 4), np.uint8)
    labels[0, :2] = 1  # 8 voxels
    labels[1, :1] = 2  # 4 voxels
    labels[2, :1] = 5  # left inferior lateral ventricle, 4 voxels
    volumes = label_volumes_ml(labels, np.diag([10.0, 10.0, 10.0, 1.0]), n_classes=7)  # 1 mL voxels
    assert (volumes["left"], volumes["right"], volumes["total"]) == pytest.approx((8.0, 4.0, 12.0))
    assert volumes["inferior_lateral_ventricle_left"] == pytest.approx(4.0)
    assert asymmetry_index(8.0, 4.0) == pytest.approx(4.0 / 6.0)
    assert asymmetry_index(0.0, 0.0) is None
    assert hippocampal_occupancy(volumes) == {"left": pytest.approx(8.0 / 12.0), "right": pytest.approx(1.0)}


def test_event_names_are_those_a_run_writes() -> None:
    assert set(ENDINGS) <= set(EVENTS) and METRICS_FILE == "metrics.jsonl"
    assert EVENTS[0] == "started" and ENDINGS == ("finished", "stopped", "failed")


def test_resources_and_configs_in_a_checkout_and_in_a_pyinstaller_bundle(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    assert install_root() == REPO and resources_root() == REPO / "resources" and configs_dir() == REPO / "configs"
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)  # what PyInstaller sets
    assert resources_root() == tmp_path / "resources" and configs_dir() == tmp_path / "configs"



def test_segmentation_classes_reads_a_segmenter_a_multitask_model_and_an_encoder() -> None:
    from volta_core.contracts.model_card import ModelCard

    def card(arch: dict) -> ModelCard:
        return ModelCard(name="m", architecture={"encoder": "vit3d_small", **arch}, input={}, heads={})

    assert card({"model": "segmenter", "num_classes": 7}).segmentation_classes == 7
    # a multitask model (segmentation + sex head) keeps the decoder's classes under "decoder"
    assert card({"model": "multitask", "decoder": {"num_classes": 7}, "heads": {}}).segmentation_classes == 7
    assert card({"model": "classifier", "num_classes": 2}).segmentation_classes == 0
    assert card({}).segmentation_classes == 0  # an encoder (pretraining) bundle
