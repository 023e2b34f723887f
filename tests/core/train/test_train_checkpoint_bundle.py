from __future__ import annotations

import json
import os
import pickle
import random
import stat

import numpy as np
import pytest
import torch

from safetensors.torch import save_file

from volta_core.contracts.model_card import BundleError, ModelCard, read_card
from volta_core.model.bundle import load_bundle, load_model, save_bundle
from volta_core.train.checkpoint import (
    CheckpointError,
    CheckpointWriteError,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)


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
    """Issue 15 item 21: the refusal names the file and the way forward, and never repeats
    torch's advice to pass weights_only=False (that would run the file's code)."""
    path = tmp_path / "evil.pt"
    torch.save({"x": Evil()}, path)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    message = str(info.value)
    assert str(path) in message and "delete" in message and "\n" not in message
    assert "weights_only" not in message and "WeightsUnpickler" not in message
    with pytest.raises(CheckpointError, match="nothing to resume"):
        load_checkpoint(tmp_path / "none.pt")


def test_truncated_and_foreign_checkpoints_name_the_file_and_the_way_forward(tmp_path):
    """Issue 15 items 15 and 21: a cut file, and a tensor-only file that is no training checkpoint."""
    good = save_checkpoint(tmp_path / "good.pt", {"model": {"w": torch.randn(300)}, "step": 1, "rng": rng_state()})
    cut = tmp_path / "cut.pt"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": {"w": torch.zeros(2)}}, foreign)
    for path, words in ((cut, "damaged"), (foreign, "not a VolTA training checkpoint")):
        with pytest.raises(CheckpointError) as info:
            load_checkpoint(path)
        message = str(info.value)
        assert words in message and str(path) in message and "delete" in message and "\n" not in message


def test_a_failed_checkpoint_write_keeps_the_last_one_and_no_temp_file(tmp_path, monkeypatch):
    """Issue 15 items 12 and 24 with a patched writer (the real full disk is in
    test_train_faults_cli.py): torch's zip writer fails with its C++ text on a full disk."""
    path = save_checkpoint(tmp_path / "ckpt" / "last.pt", {"model": {"w": torch.ones(3)}, "step": 1})
    before = path.read_bytes()

    def disk_full(obj, fh, *a, **k):
        fh.write(b"x" * 4096)
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 1738304 vs 1738192")

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(CheckpointWriteError) as info:
        save_checkpoint(path, {"model": {"w": torch.zeros(3)}, "step": 2})
    assert "disk full" in str(info.value) and "--resume" in str(info.value) and "kept" in str(info.value)
    assert path.read_bytes() == before and [p.name for p in path.parent.iterdir()] == ["last.pt"]

    def interrupted(obj, fh, *a, **k):
        fh.write(b"x" * 4096)
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, {"model": {"w": torch.zeros(3)}, "step": 2})
    assert path.read_bytes() == before and [p.name for p in path.parent.iterdir()] == ["last.pt"]


def test_a_checkpoint_of_another_model_is_refused_with_its_name(tmp_path):
    """Issue 15 item 15: resuming with the wrong model gives the file and what to do, not a KeyError."""
    from volta_core.train.engine import checkpoint_state, restore_checkpoint

    small, large = torch.nn.Linear(2, 2), torch.nn.Linear(3, 3)
    opt = torch.optim.AdamW(large.parameters())
    path = save_checkpoint(tmp_path / "last.pt", checkpoint_state(small, torch.optim.AdamW(small.parameters()),
                                                                  3, 0, None))
    with pytest.raises(CheckpointError, match="does not fit") as info:
        restore_checkpoint(path, large, opt, None, torch.device("cpu"))
    assert str(path) in str(info.value) and "\n" not in str(info.value)


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
    umask = os.umask(0)
    os.umask(umask)  # the weights are readable like the card (the safetensors writer alone makes them 0600)
    assert {stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "b").iterdir()} == {0o666 & ~umask}


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


@pytest.mark.parametrize("overrides,words", [
    ({"embed_dim": 3000000, "num_heads": 3}, "parameters"),
    ({"depth": 10**7}, "parameters"),
    ({"img_size": [4096, 4096, 4096], "patch_size": 2}, "tokens"),
    ({"embed_dim": "wide"}, "embed_dim"),
])
def test_absurd_sizes_in_a_card_are_refused_before_anything_is_built(tmp_path, overrides, words):
    """Issue 15 item 16: the card is refused by validation (nothing allocated, nothing built)."""
    save_bundle(tmp_path / "b", _state(), _card())
    card_path = tmp_path / "b" / "model_card.json"
    data = json.loads(card_path.read_text())
    data["architecture"]["overrides"].update(overrides)
    card_path.write_text(json.dumps(data))
    for load in (read_card, load_bundle, load_model):
        with pytest.raises(BundleError, match=words) as info:
            load(tmp_path / "b")
        assert str(card_path) in str(info.value)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_a_bundle_with_non_finite_weights_is_refused(tmp_path, bad):
    """Issue 15 item 29: NaN/Inf weights are reported when loaded, naming the file and tensor."""
    save_bundle(tmp_path / "b", _state(), _card())
    weights = tmp_path / "b" / "model.safetensors"
    state = _state()
    state["encoder.blocks.0.attn.qkv.weight"][0, 0] = bad
    save_file({k: v.contiguous() for k, v in state.items()}, str(weights))
    for load in (load_bundle, load_model):
        with pytest.raises(BundleError, match="NaN or infinite") as info:
            load(tmp_path / "b")
        assert str(weights) in str(info.value) and "encoder.blocks.0.attn.qkv.weight" in str(info.value)
    with pytest.raises(BundleError, match="NaN or infinite"):
        save_bundle(tmp_path / "c", state, _card())
