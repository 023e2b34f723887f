from __future__ import annotations

import json
import pickle
import random

import numpy as np
import pytest
import torch

from volta_core.model.bundle import BundleError, ModelCard, load_bundle, load_model, save_bundle
from volta_core.train.checkpoint import CheckpointError, load_checkpoint, rng_state, save_checkpoint, set_rng_state


def test_checkpoint_roundtrip_restores_rng(tmp_path):
    torch.manual_seed(3)
    random.seed(3)
    np.random.seed(3)
    state = {"model": {"w": torch.randn(3)}, "step": 5, "rng": rng_state()}
    path = save_checkpoint(tmp_path / "ckpt" / "last.pt", state)
    expected = (torch.rand(2), random.random(), np.random.rand())
    loaded = load_checkpoint(path)
    assert loaded["step"] == 5 and torch.equal(loaded["model"]["w"], state["model"]["w"])
    set_rng_state(loaded["rng"])
    assert torch.equal(torch.rand(2), expected[0])
    assert random.random() == expected[1] and np.random.rand() == expected[2]
    assert [p.name for p in path.parent.iterdir()] == ["last.pt"]  # no temp file left


class Evil:
    """Any class instance: weights_only loading must refuse to rebuild it."""


def test_checkpoint_refuses_pickled_objects(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"x": Evil()}, path)
    with pytest.raises(CheckpointError, match="safely"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="nothing to resume"):
        load_checkpoint(tmp_path / "none.pt")


def _card(**kw):
    base = dict(name="tiny", architecture={"encoder": "vit3d_tiny", "model": "classifier", "num_classes": 2,
                                           "overrides": {"img_size": [32, 32, 32], "patch_size": 8, "embed_dim": 32,
                                                         "depth": 2, "num_heads": 2, "out_indices": [1, 2]},
                                           "head": {"use_patch_mean": True, "hidden_dim": None}},
                input={"spacing_mm": [1.5, 1.5, 1.5], "size": [32, 32, 32], "orientation": "RAS",
                       "normalisation": "percentile"},
                heads={"segmentation": {"trained": False, "labels": {"0": "background"}},
                       "sex": {"trained": True, "labels": {"0": "F", "1": "M"}}})
    base.update(kw)
    return ModelCard(**base)


def _state():
    from volta_core.model.bundle import build_model

    return build_model(_card()).state_dict()


def test_bundle_roundtrip(tmp_path):
    state = _state()
    save_bundle(tmp_path / "b", state, _card(metrics={"auroc": 0.9, "protocol": "toy"}))
    card, loaded = load_bundle(tmp_path / "b")
    assert card.heads["sex"]["trained"] and not card.heads["segmentation"]["trained"]
    assert card.intended_use == "research use only, not for diagnosis" and card.metrics["auroc"] == 0.9
    assert set(loaded) == set(state) and all(torch.equal(loaded[k], state[k]) for k in state)
    _, model = load_model(tmp_path / "b")
    assert model(torch.zeros(1, 1, 32, 32, 32))["logits"].shape == (1, 2)
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["model.safetensors", "model_card.json"]


@pytest.mark.parametrize("edit,match", [
    (lambda c: c.pop("heads"), "heads"),
    (lambda c: c["input"].update(orientation="LPS"), "orientation"),
    (lambda c: c["input"].update(spacing_mm=[1, 1]), "spacing_mm"),
    (lambda c: c["heads"]["sex"].update(trained="yes"), "trained"),
    (lambda c: c.update(format_version=99), "format_version"),
    (lambda c: c.update(surprise=1), "unknown field"),
    (lambda c: c["architecture"].update(encoder=3), "encoder"),
])
def test_corrupted_card_is_refused(tmp_path, edit, match):
    save_bundle(tmp_path / "b", _state(), _card())
    card_path = tmp_path / "b" / "model_card.json"
    data = json.loads(card_path.read_text())
    edit(data)
    card_path.write_text(json.dumps(data))
    with pytest.raises(BundleError, match=match):
        load_bundle(tmp_path / "b")


def test_broken_files_are_refused(tmp_path):
    save_bundle(tmp_path / "b", _state(), _card())
    (tmp_path / "b" / "model_card.json").write_text("{not json")
    with pytest.raises(BundleError, match="not valid JSON"):
        load_bundle(tmp_path / "b")
    save_bundle(tmp_path / "c", _state(), _card())
    (tmp_path / "c" / "model.safetensors").write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(BundleError, match="damaged"):
        load_bundle(tmp_path / "c")
    with pytest.raises(BundleError, match="not a model bundle"):
        load_bundle(tmp_path / "nowhere")
