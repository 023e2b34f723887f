from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import pytest
import torch

from train_helpers import finetune_cfg, pretrain_cfg, step_losses
from volta_core.model.bundle import load_bundle, load_model
from volta_core.train.checkpoint import load_checkpoint
from volta_core.train.engine import TrainingDivergedError
from volta_core.train.events import read_events
from volta_core.train.finetune import DatasetInvalidError, run_finetune
from volta_core.train.pretrain import run_pretraining


@pytest.mark.slow  # 25-45 s on 2 cores: keeps the default run near 15 min
def test_segmentation_overfits_two_volumes(seg_data, tmp_path):
    cfg = finetune_cfg(seg_data, "seg", "epochs=100", "optim.lr=1e-2", "optim.min_lr=1e-3", "optim.warmup_steps=5")
    res = run_finetune(cfg, tmp_path / "run", stream=None)
    assert res.status == "finished"
    assert res.metrics["dice_left"] > 0.9 and res.metrics["dice_right"] > 0.9, res.metrics
    assert res.metrics["hd95"] < 5.0
    card, state = load_bundle(tmp_path / "run" / "bundle")
    assert card.heads["segmentation"]["trained"] and not card.heads["ad"]["trained"]
    assert card.heads["segmentation"]["labels"]["1"] == "left hippocampus"
    assert card.input == {"spacing_mm": [2.5] * 3, "size": [32] * 3, "orientation": "RAS", "normalisation": "percentile",
                          "space": "native"}  # what the predictor needs to preprocess as training did
    assert card.metrics["dice"] == pytest.approx(res.metrics["dice"]) and "protocol" in card.metrics
    assert any(k.startswith("decoder.") for k in state)
    evals = [e for e in read_events(tmp_path / "run" / "metrics.jsonl") if e["event"] == "eval"]
    assert evals[-1]["split"] == "train"


@pytest.fixture(scope="module")
def pretrain_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("pre") / "run"
    run_pretraining(pretrain_cfg("steps=2"), run, stream=None)
    return run


def test_linear_probe_from_pretrained_run(cls_data, pretrain_run, tmp_path):
    cfg = finetune_cfg(cls_data, "sex", "epochs=2", "mode=linear", "val_fraction=0.5", "optim.lr=1e-2")
    cfg.init = str(pretrain_run)
    res = run_finetune(cfg, tmp_path / "run", stream=None)
    for key in ("auroc", "balanced_accuracy", "sensitivity", "specificity"):
        assert key in res.metrics
    card, model = load_model(tmp_path / "run" / "bundle")
    assert card.heads["sex"]["trained"]
    pre_card = (pretrain_run / "bundle" / "model_card.json")
    assert card.training_data["init"] == {"name": json.loads(pre_card.read_text())["name"],
                                          "card_sha256": hashlib.sha256(pre_card.read_bytes()).hexdigest()}
    assert card.training_data["n_val"] == 4 and card.training_data["mode"] == "linear"
    # frozen encoder = the pretraining run's EMA teacher encoder, unchanged
    teacher = load_checkpoint(pretrain_run / "checkpoints" / "last.pt")["model"]
    for name, value in model.encoder.state_dict().items():
        assert torch.equal(value, teacher[f"teacher.encoder.{name}"]), name
    assert model(torch.zeros(1, 1, 32, 32, 32))["logits"].shape == (1, 2)


def test_finetune_stop_and_resume_is_exact(cls_data, tmp_path):
    def cfg():
        return finetune_cfg(cls_data, "ad", "epochs=2", "augment=true")

    run_finetune(cfg(), tmp_path / "a", stream=None)
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "STOP").touch()
    assert run_finetune(cfg(), tmp_path / "b", stream=None).status == "stopped"
    assert run_finetune(cfg(), tmp_path / "b", stream=None, resume=True).status == "finished"
    a = step_losses(read_events(tmp_path / "a" / "metrics.jsonl"))
    b = step_losses(read_events(tmp_path / "b" / "metrics.jsonl"))
    assert sorted(a) == sorted(b) == list(range(1, 9))
    np.testing.assert_allclose([b[s] for s in a], [a[s] for s in a], atol=1e-6)


def test_invalid_dataset_is_refused_with_every_problem(cls_data, tmp_path):
    data = tmp_path / "bids"
    shutil.copytree(cls_data, data)
    (data / "sub-001" / "anat" / "sub-001_T1w.nii.gz").unlink()
    tsv = (data / "participants.tsv").read_text().replace("sub-005\tF\tCN", "sub-005\tF\tbanana")
    (data / "participants.tsv").write_text(tsv)
    with pytest.raises(DatasetInvalidError) as info:
        run_finetune(finetune_cfg(data, "ad"), tmp_path / "run", stream=None)
    kinds = info.value.report.kinds()
    assert {"missing_file", "unknown_label"} <= kinds
    assert "banana" in str(info.value) and "sub-001" in str(info.value)
    last = read_events(tmp_path / "run" / "metrics.jsonl")[-1]
    assert last["event"] == "failed" and len(last["problems"]) == len(info.value.report.problems)


def test_nan_loss_stops_finetuning(cls_data, tmp_path):
    cfg = finetune_cfg(cls_data, "sex", "epochs=2", "optim.lr=1e30", "optim.warmup_steps=0", "optim.grad_clip=0")
    with pytest.raises(TrainingDivergedError, match="lower optim.lr"):
        run_finetune(cfg, tmp_path / "run", stream=None)
    assert read_events(tmp_path / "run" / "metrics.jsonl")[-1]["event"] == "failed"
