"""Fine-tuning and pretraining start from a bundle with no configuration: the encoder preset, input
grid, spacing, space and ROI come from its card; another grid interpolates the positional embedding;
an encoder that cannot take the weights is refused with a message that says why."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from train_helpers import SEG_ENCODER, finetune_cfg
from volta_core.config import (
    FinetuneConfig,
    PretrainConfig,
    adopt_init_settings,
    from_dict,
    init_mismatch,
    load_config,
    to_dict,
)
from volta_core.contracts.model_card import ModelCard
from volta_core.model.bundle import save_bundle
from volta_core.model.networks import build_segmenter
from volta_core.model.vit3d import VisionTransformer3D, resize_pos_embed
from volta_core.train.task_models import build_task_model, init_encoder

ROOT = Path(__file__).resolve().parents[3]
BUNDLED = ROOT / "resources" / "models" / "volta3d-hippocampus"
SHIPPED = ROOT / "configs"


def adopted(cls, config: str, init: Path, overrides: list[str] | None = None):
    cfg = load_config(cls, SHIPPED / config, overrides)
    return from_dict(cls, adopt_init_settings(to_dict(cfg), init, overrides))


def test_resize_pos_embed_matches_the_encoder_and_keeps_a_smooth_field() -> None:
    enc = VisionTransformer3D(img_size=(32, 16, 16), patch_size=8, embed_dim=8, depth=1, num_heads=2)
    out = resize_pos_embed(enc.pos_embed, enc.grid_size, (6, 4, 2))
    assert out.shape == (1, 1 + 48, 8)
    assert torch.equal(out, enc.interpolate_pos_embed((6, 4, 2)))  # the same code at every forward
    assert torch.equal(out[:, 0], enc.pos_embed[:, 0])  # the class token's position is kept
    assert resize_pos_embed(enc.pos_embed, enc.grid_size, enc.grid_size) is enc.pos_embed
    const = torch.ones(1, 1 + 4 * 2 * 2, 8) * 0.5
    assert torch.allclose(resize_pos_embed(const, (4, 2, 2), (8, 4, 3)), torch.full((1, 97, 8), 0.5))
    with pytest.raises(ValueError, match="does not hold"):
        resize_pos_embed(enc.pos_embed, (3, 3, 3), (4, 4, 4))


@pytest.mark.parametrize("task,config", [("seg", "finetune_seg_tiny.yaml"), ("sex", "finetune_cls_tiny.yaml"),
                                         ("ad", "finetune_cls_tiny.yaml")])
def test_finetune_adopts_the_bundled_models_card(task: str, config: str) -> None:
    cfg = adopted(FinetuneConfig, config, BUNDLED, [f"task={task}"])
    card = json.loads((BUNDLED / "model_card.json").read_text())
    assert cfg.model.encoder == card["architecture"]["encoder"] == "vit3d_small"
    assert cfg.data.size == [64, 48, 48] and cfg.data.spacing == 1.5
    assert (cfg.data.space, cfg.data.roi, cfg.data.normalisation) == ("template", "hippocampus", "percentile")
    assert cfg.model.overrides["depth"] == 12 and "img_size" not in cfg.model.overrides
    assert cfg.seg_feature_size == card["architecture"]["decoder"]["feature_size"]
    assert init_mismatch(cfg, BUNDLED) is None
    model, arch = build_task_model(cfg)
    assert init_encoder(model, BUNDLED) > 0  # the shipped weights fit with no override at all
    assert arch["overrides"]["img_size"] == [64, 48, 48]


def test_pretraining_adopts_the_card_too() -> None:
    cfg = adopted(PretrainConfig, "pretrain_tiny.yaml", BUNDLED)
    assert (cfg.model.encoder, cfg.data.size, cfg.data.space) == ("vit3d_small", [64, 48, 48], "template")


def test_an_explicit_override_wins_and_a_bad_one_is_refused_with_the_reason() -> None:
    cfg = adopted(FinetuneConfig, "finetune_seg_tiny.yaml", BUNDLED, ["data.size=[64,64,64]"])
    assert cfg.data.size == [64, 64, 64] and cfg.model.encoder == "vit3d_small"
    assert init_mismatch(cfg, BUNDLED) is None  # another grid: the positions are interpolated
    odd = adopted(FinetuneConfig, "finetune_seg_tiny.yaml", BUNDLED, ["data.size=[60,48,48]"])
    assert "multiple of the starting model's patch size 16" in init_mismatch(odd, BUNDLED)
    shallow = adopted(FinetuneConfig, "finetune_seg_tiny.yaml", BUNDLED, ["model.overrides.depth=6"])
    assert "depth=12" in init_mismatch(shallow, BUNDLED) and "depth=6" in init_mismatch(shallow, BUNDLED)
    tiny = adopted(FinetuneConfig, "finetune_seg_tiny.yaml", BUNDLED, ["model.encoder=vit3d_tiny"])
    assert "vit3d_small encoder" in init_mismatch(tiny, BUNDLED)


@pytest.fixture(scope="module")
def tiny_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny segmenter bundle at 32^3 (patch 8: a 4x4x4 token grid)."""
    torch.manual_seed(0)
    model = build_segmenter("vit3d_tiny", num_classes=3, feature_size=8, img_size=[32, 32, 32], patch_size=8,
                            embed_dim=32, depth=2, num_heads=2, out_indices=[1, 2, 2])
    card = ModelCard(name="tiny", architecture={"encoder": "vit3d_tiny", "overrides": model.encoder.config,
                                                "model": "segmenter", "num_classes": 3,
                                                "decoder": {"feature_size": 8, "tap_layers": [1, 2, 2]}},
                     input={"spacing_mm": [2.5] * 3, "size": [32] * 3, "orientation": "RAS",
                            "normalisation": "percentile", "space": "native"},
                     heads={"segmentation": {"trained": True, "labels": {"0": "b", "1": "l", "2": "r"}}})
    return save_bundle(tmp_path_factory.mktemp("tiny") / "bundle", model.state_dict(), card)


def test_another_grid_initialises_with_interpolated_positions(seg_data, tiny_bundle: Path) -> None:
    cfg = finetune_cfg(seg_data, "seg", "data.size=[48,32,32]", SEG_ENCODER)
    model, _ = build_task_model(cfg)
    init_encoder(model, tiny_bundle)
    from volta_core.model.bundle import load_bundle

    _, state = load_bundle(tiny_bundle)
    pos = model.encoder.pos_embed
    assert pos.shape == (1, 1 + 6 * 4 * 4, 32)
    assert torch.equal(pos, resize_pos_embed(state["encoder.pos_embed"], (4, 4, 4), (6, 4, 4)))
    assert torch.equal(model.encoder.blocks[0].attn.qkv.weight, state["encoder.blocks.0.attn.qkv.weight"])


def test_cli_finetune_from_a_bundle_needs_no_override(seg_data, tiny_bundle: Path, tmp_path: Path) -> None:
    """``volta finetune --init BUNDLE`` with the shipped 96^3 vit3d_tiny config and no key=value at all for
    the encoder or grid (a real process)."""
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "volta_core.cli", "finetune", "--task", "seg", "--data", str(seg_data),
           "--init", str(tiny_bundle), "--config", str(SHIPPED / "finetune_seg_tiny.yaml"), "--out", str(out),
           "steps=1", "device=cpu", "threads=1", "val_fraction=0", "augment=false"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    card = json.loads((out / "bundle" / "model_card.json").read_text())
    assert card["input"]["size"] == [32, 32, 32] and card["input"]["spacing_mm"] == [2.5] * 3
    assert card["architecture"]["overrides"]["embed_dim"] == 32
    bad = subprocess.run([*cmd[:-5], "--out", str(tmp_path / "bad"), "model.overrides.depth=3", "steps=1",
                          "device=cpu"], capture_output=True, text=True, timeout=300, check=False)
    assert bad.returncode == 2 and "depth=2" in bad.stderr and "would not fit" in bad.stderr
    shutil.rmtree(out)


# one model, all heads ------------------------------------------------------------------------------

def _predict(bundle: Path, scan: Path):
    from volta_core.infer.predictor import Predictor
    from volta_core.io import load_volume

    return Predictor.from_bundle(bundle, device="cpu").predict(load_volume(scan))


@pytest.mark.parametrize("mode", ["full", "linear"])
def test_a_sex_finetune_keeps_the_segmentation_head(cls_data, tiny_bundle: Path, tmp_path: Path, mode: str) -> None:
    """Fine-tuning sex from a segmenter gives ONE model with both heads: the decoder's weights are the
    starting model's, unchanged (the card says so, and whether the encoder moved under it)."""
    from volta_core.model.bundle import load_bundle
    from volta_core.train.finetune import run_finetune

    cfg = finetune_cfg(cls_data, "sex", "steps=2", "data.size=32", f"mode={mode}", "val_fraction=0")
    cfg = from_dict(FinetuneConfig, adopt_init_settings(to_dict(cfg), tiny_bundle, []))
    cfg.init = str(tiny_bundle)
    res = run_finetune(cfg, tmp_path / "run", stream=None)
    card, state = load_bundle(res.bundle)
    _, start = load_bundle(tiny_bundle)
    assert card.architecture["model"] == "multitask" and set(card.architecture["heads"]) == {"sex"}
    assert {h: v["trained"] for h, v in card.heads.items()} == {"segmentation": True, "sex": True, "ad": False}
    note = card.heads["segmentation"]["note"]
    assert "kept from tiny with its weights unchanged" in note
    assert ("encoder was frozen" in note) if mode == "linear" else ("fine-tuned for sex" in note)
    for key, value in start.items():
        if key.startswith("decoder."):
            assert torch.equal(state[key], value), key
    prediction = _predict(res.bundle, next((cls_data / "sub-001" / "anat").glob("*T1w.nii.gz")))
    assert prediction.segmented and prediction.classification["sex"].trained
    assert prediction.classification["sex"].probability is not None
    assert any("segmentation head kept from tiny" in w for w in prediction.quality.warnings)


def test_a_model_without_a_segmentation_head_measures_no_volume(cls_data, tmp_path: Path) -> None:
    from volta_core.train.finetune import run_finetune

    res = run_finetune(finetune_cfg(cls_data, "sex", "steps=1"), tmp_path / "run", stream=None)
    prediction = _predict(res.bundle, next((cls_data / "sub-002" / "anat").glob("*T1w.nii.gz")))
    assert not prediction.segmented and not prediction.labels.any()
    assert not any("hippocampus" in w or "mL" in w for w in prediction.quality.warnings)  # not "implausible (-1.0 mL)"
    assert prediction.classification["sex"].trained


def test_a_segmentation_finetune_goes_on_from_the_trained_decoder(seg_data, tiny_bundle: Path, tmp_path) -> None:
    from volta_core.model.bundle import load_bundle
    from volta_core.train.finetune import run_finetune

    cfg = finetune_cfg(seg_data, "seg", "steps=1", "optim.lr=1e-12", "optim.min_lr=0", "optim.warmup_steps=0")
    cfg = from_dict(FinetuneConfig, adopt_init_settings(to_dict(cfg), tiny_bundle, []))
    cfg.init = str(tiny_bundle)
    res = run_finetune(cfg, tmp_path / "run", stream=None)
    card, state = load_bundle(res.bundle)
    _, start = load_bundle(tiny_bundle)
    assert card.architecture["model"] == "segmenter"
    weight = "decoder.out.weight" if "decoder.out.weight" in start else sorted(k for k in start if k.startswith("decoder."))[-1]
    assert torch.allclose(state[weight], start[weight], atol=1e-6)  # lr ~ 0: still the starting decoder


def test_a_decoder_with_the_image_pyramid_starts_where_the_plain_one_was(seg_data, tiny_bundle: Path,
                                                                          tmp_path: Path) -> None:
    """The recipe's part 6 (``seg_image_pyramid: true``) goes on from a bundle without the pyramid: every
    tensor of the starting decoder is kept, the pyramid joins through zero-started convolutions (same
    logits), the card records it, and a fine-tune from that bundle adopts it."""
    from volta_core.model.bundle import load_model
    from volta_core.train.finetune import run_finetune

    cfg = finetune_cfg(seg_data, "seg", "steps=1", "optim.lr=1e-12", "optim.min_lr=0", "optim.warmup_steps=0")
    cfg = from_dict(FinetuneConfig, adopt_init_settings(to_dict(cfg), tiny_bundle, ["seg_image_pyramid=true"]))
    assert cfg.seg_image_pyramid
    cfg.init = str(tiny_bundle)
    res = run_finetune(cfg, tmp_path / "run", stream=None)
    card, model = load_model(res.bundle)
    _, start = load_model(tiny_bundle)
    assert card.architecture["decoder"]["image_pyramid"] is True and model.decoder.image_pyramid
    assert not start.decoder.image_pyramid and len(model.decoder.image_down) == 2  # patch 8: levels 1 and 2
    x = torch.randn(1, 1, 32, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model(x)["logits"], start(x)["logits"], atol=1e-4, rtol=1e-4)
    again = from_dict(FinetuneConfig, adopt_init_settings(to_dict(finetune_cfg(seg_data, "seg")), res.bundle, []))
    assert again.seg_image_pyramid  # the card's decoder, not the config file's default


def test_a_decoder_for_more_structures_starts_with_the_hippocampus_classes(tiny_bundle: Path) -> None:
    from volta_core.train.task_models import init_task_head, starting_heads

    # the recipe's structures config, from a hippocampus-only model (3 classes)
    cfg = adopted(FinetuneConfig, "recipe_seg_structures.yaml", tiny_bundle)
    model, _ = build_task_model(cfg)
    start = starting_heads(tiny_bundle)
    assert start is not None and init_task_head(model, start, "seg") > 0
    own = model.decoder.state_dict()
    theirs = {k[len("decoder."):]: v for k, v in start.state.items() if k.startswith("decoder.")}
    grown = [k for k, v in theirs.items() if own[k].shape != v.shape]
    assert grown  # the output layer: 7 classes here, 3 in the start
    for k in grown:
        assert own[k].shape[0] == 7 and torch.equal(own[k][:3], theirs[k])  # background, left, right
        assert not torch.equal(own[k][3:], torch.zeros_like(own[k][3:]))  # the new structures: fresh init
    assert all(torch.equal(own[k], v) for k, v in theirs.items() if k not in grown)
