"""Training on synthetic brains (the bundled-model recipe's data path) and the recipe's configs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.core.train.train_helpers import ENCODER, SEG_ENCODER, pretrain_cfg
from volta_core.config import ConfigError, FinetuneConfig, PretrainConfig, load_config
from volta_core.data.prepare import card_input
from volta_core.data.synth.volumes import synth_volumes
from volta_core.train.finetune import run_finetune
from volta_core.train.pretrain import run_pretraining

ROOT = Path(__file__).resolve().parents[3]
SYNTH = ["synth.subset=dk", "data.space=template", "data.roi=hippocampus", "data.spacing=3.0",
         "data.size=[32, 24, 24]", "synth.overrides={deform: {elastic_std_mm: 0.0}}"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_size_takes_one_or_three_values():
    assert load_config(PretrainConfig, None, ["data.size=64"]).data.size == 64
    assert load_config(PretrainConfig, None, ["data.size=[64, 48, 48]"]).data.size == [64, 48, 48]
    with pytest.raises(ConfigError, match="data.size"):
        load_config(PretrainConfig, None, ["data.size=[64, 48]"])
    assert card_input(spacing=1.5, size=[64, 48, 48], normalisation="percentile", space="template",
                      roi="hippocampus")["size"] == [64, 48, 48]


@pytest.mark.parametrize("name", ["recipe_pretrain.yaml", "recipe_seg.yaml"])
def test_recipe_configs_load(name):
    cls = PretrainConfig if "pretrain" in name else FinetuneConfig
    cfg = load_config(cls, ROOT / "configs" / name)
    assert cfg.synth.subset == "dk"  # the shipped model never trains on the fsaverage test brain
    assert cfg.data.space == "template" and cfg.data.roi == "hippocampus"


def test_real_pretraining_recipe_keeps_held_out_maps_out():
    cfg = load_config(PretrainConfig, ROOT / "configs" / "recipe_pretrain_real.yaml")
    assert cfg.synth.subset == "dk+individual"  # the training maps only: individual_heldout is never drawn
    assert cfg.data.space == "template" and cfg.data.roi == "hippocampus" and cfg.real_fraction == 0.5
    assert cfg.data_path == "" and cfg.synth.label_maps == ""  # set by build_model.py --t1 / --label-maps


def test_synth_volumes_look_like_preprocessed_scans():
    cfg = load_config(FinetuneConfig, None, SYNTH + ["synth.n_train=3", "synth.n_val=2"])
    train = synth_volumes(cfg.synth, cfg.data, split="train")
    val = synth_volumes(cfg.synth, cfg.data, split="val")
    a, b = train[0], train[0]
    assert a.image.shape == (32, 24, 24) and a.mask.shape == (32, 24, 24)
    np.testing.assert_array_equal(a.image, b.image)  # sample i always has the same seed
    assert 0.0 <= a.image.min() and a.image.max() <= 1.0  # percentile-normalised and clipped, as preprocess does
    assert set(np.unique(a.mask)) <= {0, 1, 2} and (a.mask == 1).any() and (a.mask == 2).any()
    assert train.seed_of(0) != val.seed_of(0)
    assert len(train.records) == 3 and train.records[2].subject.endswith("000002")
    with pytest.raises(IndexError):
        train[3]


def test_synth_needs_template_space():
    cfg = load_config(FinetuneConfig, None, ["synth.subset=dk"])
    with pytest.raises(ValueError, match="template"):
        synth_volumes(cfg.synth, cfg.data)


def test_pretrain_then_finetune_on_synthetic_brains(tmp_path):
    """The recipe's two stages in miniature: the pretrained encoder initialises the segmenter."""
    pre = pretrain_cfg(*SYNTH, "steps=2", "synthetic_subjects=0")
    pre.model.overrides = {"patch_size": 8, "embed_dim": 32, "depth": 2, "num_heads": 2, "out_indices": [1, 2]}
    result = run_pretraining(pre, tmp_path / "pre", stream=None)
    assert result.status == "finished"
    card = json.loads((tmp_path / "pre" / "bundle" / "model_card.json").read_text())
    assert "synthetic brains" in card["training_data"]["source"] and card["input"]["size"] == [32, 24, 24]

    ft = load_config(FinetuneConfig, None, [*SYNTH, SEG_ENCODER, "synth.n_train=2", "synth.n_val=1", "steps=3",
                                            "batch_size=1", "device=cpu", "threads=1", "seg_feature_size=4",
                                            "augment=false", "optim.warmup_steps=1", "checkpoint_every=1000"])
    ft.model.overrides["out_indices"] = [1, 2, 2]
    ft.init = str(tmp_path / "pre" / "bundle")
    out = run_finetune(ft, tmp_path / "seg", stream=None)
    assert out.status == "finished" and out.step == 3  # `steps` fixes the budget whatever the epoch length
    seg_card = json.loads((out.bundle / "model_card.json").read_text())
    assert seg_card["training_data"]["n_train"] == 2 and seg_card["training_data"]["steps"] == 3
    assert seg_card["input"]["space"] == "template" and seg_card["input"]["roi"] == "hippocampus"
    assert "dice_left" in seg_card["metrics"]


def test_synthetic_labels_are_only_for_segmentation(tmp_path):
    ft = load_config(FinetuneConfig, None, [*SYNTH, ENCODER, "task=sex", "device=cpu"])
    with pytest.raises(ValueError, match="seg"):
        run_finetune(ft, tmp_path / "sex", stream=None)


def test_training_set_metrics_use_the_first_samples_only():
    from volta_core.train.finetune import TRAIN_EVAL_LIMIT, FirstSamples

    class Volumes:
        spacing = 1.5
        records = [f"r{i}" for i in range(2000)]

        def __len__(self):
            return 2000

        def __getitem__(self, i):
            return i

    head = FirstSamples(Volumes(), TRAIN_EVAL_LIMIT)
    assert len(head) == 64 and head[63] == 63 and head.records == Volumes.records[:64] and head.spacing == 1.5
    with pytest.raises(IndexError):
        head[64]
    assert list(head) == list(range(64))  # iteration stops at the limit
    assert len(FirstSamples(Volumes(), 10_000)) == 2000


def test_mixed_volumes_draw_real_scans_at_the_asked_fraction():
    from volta_core.data.datasets import MixedVolumes

    synthetic = [f"s{i}" for i in range(400)]
    real = ["r0", "r1", "r2"]
    mixed = MixedVolumes(synthetic, real, real_fraction=0.25, seed=3)
    items = [mixed[i] for i in range(len(mixed))]
    assert len(mixed) == 400 and items == [mixed[i] for i in range(400)]  # the same mix every time
    n_real = sum(x.startswith("r") for x in items)
    assert 60 < n_real < 140 and set(x for x in items if x.startswith("r")) == set(real)
    assert all(x == f"s{i}" for i, x in enumerate(items) if x.startswith("s"))  # synthetic item i stays item i
    assert MixedVolumes(synthetic, real, real_fraction=0.25, seed=4).source(0) is not None
    with pytest.raises(ValueError, match="no real scans"):
        MixedVolumes(synthetic, [], real_fraction=0.5)
    with pytest.raises(ValueError, match="real_fraction"):
        MixedVolumes(synthetic, real, real_fraction=1.5)


def test_pretraining_mixes_real_scans_into_synthetic_brains(tmp_path, seg_data):
    """Real unlabelled scans (a BIDS folder) are prepared once on the model's view, cached in the run
    folder and mixed into the synthetic stream; the card names both, with a hash and no path."""
    from volta_core.data.datasets import PreloadedVolumes
    from volta_core.train.pretrain import build_volumes

    pre = pretrain_cfg(*SYNTH, "steps=2", "synthetic_subjects=0", "synth.n_train=6", "real_fraction=0.5",
                       f"data_path={seg_data}")
    pre.model.overrides = {"patch_size": 8, "embed_dim": 32, "depth": 2, "num_heads": 2, "out_indices": [1, 2]}
    result = run_pretraining(pre, tmp_path / "pre", stream=None)
    assert result.status == "finished"
    cache = tmp_path / "pre" / "real_views.npz"
    assert cache.is_file()
    card = json.loads((tmp_path / "pre" / "bundle" / "model_card.json").read_text())
    data = card["training_data"]
    assert "synthetic brains" in data["source"] and "50% of samples real unlabelled scans" in data["source"]
    assert data["real_n_subjects"] == 2 and len(data["real_data_sha256"]) == 64
    assert str(seg_data) not in json.dumps(card)
    curve = card["metrics"]["training_curve"]  # did it learn, did the teacher collapse: in the card
    assert curve["step"] == [1, 2] and len(curve["teacher_diversity"]) == 2 and len(curve["loss"]) == 2

    from volta_core.train.run_folder import RunFolder

    calls = []
    mixed = build_volumes(pre, RunFolder(tmp_path / "pre"))
    assert isinstance(mixed.real, PreloadedVolumes) and len(mixed.real) == 2
    assert mixed.real[0].image.shape == (32, 24, 24) and mixed.real[0].image.dtype == np.float32
    again = PreloadedVolumes(mixed.real, cache=cache, key="another spec", progress=lambda i, n: calls.append(i))
    assert calls == [1, 2] and len(again) == 2  # a cache of another spec is not reused
    cache.write_bytes(b"torn")
    assert len(build_volumes(pre, RunFolder(tmp_path / "pre")).real) == 2  # a torn cache is rebuilt


def test_training_curve_bins_the_logged_steps(tmp_path):
    from volta_core.train.pretrain import training_curve

    lines = [{"event": "started", "step": 0}]
    lines += [{"event": "step", "step": i, "loss": 10.0 - i / 10, "loss_global": 1.0, "loss_local": 1.0,
               "loss_recon": 0.5, "teacher_entropy": 6.0, "teacher_diversity": i / 100} for i in range(1, 101)]
    path = tmp_path / "metrics.jsonl"
    path.write_text("\n".join(json.dumps(e) for e in lines) + "\n{torn")
    curve = training_curve(path, points=10)
    assert curve["step"] == list(range(10, 101, 10))
    assert curve["loss"][0] == pytest.approx(np.mean([10.0 - i / 10 for i in range(1, 11)]), abs=1e-4)
    assert curve["teacher_diversity"][-1] == pytest.approx(0.955, abs=1e-4)
    assert training_curve(tmp_path / "metrics.jsonl", points=500)["step"] == list(range(1, 101))
    (tmp_path / "empty.jsonl").write_text("")
    assert training_curve(tmp_path / "empty.jsonl") == {"step": []}
