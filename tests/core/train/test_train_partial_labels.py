"""Hippocampus-only masks for a model that segments more (the shipped 7-class model): the fine-tune keeps
every structure and trains with the marginal loss instead of cutting the output layer down."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from train_helpers import finetune_cfg
from volta_core.config import FinetuneConfig, adopt_init_settings, from_dict, to_dict
from volta_core.contracts.model_card import ModelCard
from volta_core.model.bundle import load_bundle, save_bundle
from volta_core.model.networks import build_segmenter
from volta_core.data.validate import seg_structures
from volta_core.train.finetune import run_finetune, seg_loss, start_structures

ALL = ["hippocampus", "amygdala", "inferior_lateral_ventricle"]


def test_the_marginal_loss_is_the_plain_loss_when_every_class_is_labelled() -> None:
    torch.manual_seed(0)
    logits, target = torch.randn(2, 7, 6, 5, 4), torch.randint(0, 7, (2, 6, 5, 4))
    assert torch.allclose(seg_loss(logits, target, 7), seg_loss(logits, target))
    assert torch.allclose(seg_loss(logits, target), seg_loss(logits, target, None))


def test_unlabelled_structures_are_part_of_background_not_errors() -> None:
    """Moving a voxel's belief between background and an unlabelled structure (amygdala, ventricle)
    changes nothing; moving it to background from the labelled hippocampus does."""
    torch.manual_seed(1)
    logits, target = torch.randn(1, 7, 6, 5, 4), torch.randint(0, 3, (1, 6, 5, 4))
    swapped = logits.clone()
    swapped[:, [0, 3, 5]] = logits[:, [5, 0, 3]]  # background's logit to the left ventricle and round
    assert torch.allclose(seg_loss(swapped, target, 3), seg_loss(logits, target, 3), atol=1e-6)
    assert not torch.allclose(seg_loss(swapped, target), seg_loss(logits, target))  # the plain loss objects
    hippo = logits.clone()
    hippo[:, [0, 1]] = logits[:, [1, 0]]
    assert not torch.allclose(seg_loss(hippo, target, 3), seg_loss(logits, target, 3))
    # all belief on unlabelled structures where the mask says background: no penalty beyond background's
    sure = torch.full((1, 7, 2, 2, 2), -20.0)
    sure[:, 4] = 20.0
    loss = seg_loss(sure, torch.zeros(1, 2, 2, 2, dtype=torch.long), 3)
    assert loss < 0.01


def test_where_the_masks_say_background_the_starting_models_split_is_kept() -> None:
    """Marginal loss alone does not oppose an amygdala fading into background; the distillation term
    (the starting model's background-vs-unlabelled split, on background voxels) does."""
    torch.manual_seed(2)
    start, target = torch.randn(1, 7, 6, 5, 4), torch.randint(0, 3, (1, 6, 5, 4))
    base = seg_loss(start, target, 3)
    torch.testing.assert_close(seg_loss(start, target, 3, start), base)  # unchanged model: no KL
    faded = start.clone()
    faded[:, 3:] -= 30.0  # every unlabelled structure drifts into background
    faded[:, 0] = torch.logsumexp(start[:, [0, 3, 4, 5, 6]], dim=1)  # ...keeping the merged background
    torch.testing.assert_close(seg_loss(faded, target, 3), base, atol=1e-5, rtol=0)  # marginal: no objection
    assert seg_loss(faded, target, 3, start) > base + 0.5
    # a voxel the masks call hippocampus is free: the start's amygdala there is not kept
    hippo = torch.ones(1, 6, 5, 4, dtype=torch.long)
    torch.testing.assert_close(seg_loss(faded, hippo, 3, start), seg_loss(faded, hippo, 3))


def test_which_structures_a_fine_tune_on_real_masks_segments() -> None:
    assert seg_structures(["hippocampus"], ALL) == (ALL, ["hippocampus"])
    assert seg_structures(["hippocampus", "amygdala"], ALL) == (ALL, ["hippocampus", "amygdala"])
    assert seg_structures(ALL, ALL) == (ALL, None)
    assert seg_structures(["hippocampus"], ["hippocampus"]) == (["hippocampus"], None)
    assert seg_structures(["hippocampus"], []) == (["hippocampus"], None)  # a pretraining run: no head yet
    assert seg_structures(ALL, ["hippocampus"]) == (ALL, None)  # more in the masks: the model grows


@pytest.fixture(scope="module")
def seven_class_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny 7-class segmenter (hippocampus, amygdala, ventricle) at 32^3, like the shipped model."""
    torch.manual_seed(0)
    model = build_segmenter("vit3d_tiny", num_classes=7, feature_size=8, img_size=[32, 32, 32], patch_size=8,
                            embed_dim=32, depth=2, num_heads=2, out_indices=[1, 2, 2])
    labels = {"0": "background", "1": "left hippocampus", "2": "right hippocampus", "3": "left amygdala",
              "4": "right amygdala", "5": "left inferior lateral ventricle", "6": "right inferior lateral ventricle"}
    card = ModelCard(name="tiny7", architecture={"encoder": "vit3d_tiny", "overrides": model.encoder.config,
                                                 "model": "segmenter", "num_classes": 7,
                                                 "decoder": {"feature_size": 8, "tap_layers": [1, 2, 2]}},
                     input={"spacing_mm": [2.5] * 3, "size": [32] * 3, "orientation": "RAS",
                            "normalisation": "percentile", "space": "native"},
                     heads={"segmentation": {"trained": True, "labels": labels}})
    return save_bundle(tmp_path_factory.mktemp("tiny7") / "bundle", model.state_dict(), card)


def test_a_hippocampus_only_set_keeps_the_seven_classes(seg_data, seven_class_bundle: Path, tmp_path: Path) -> None:
    """The synthetic BIDS set's masks hold 0/1/2; the start segments 3 structures: the fine-tuned
    bundle still does, its amygdala and ventricle rows start from the start's, and the card says the
    masks annotated the hippocampus only and how the loss treated the rest."""
    assert start_structures(seven_class_bundle) == ALL
    cfg = finetune_cfg(seg_data, "seg", "steps=2", "val_fraction=0")
    cfg = from_dict(FinetuneConfig, adopt_init_settings(to_dict(cfg), seven_class_bundle, []))
    cfg.init = str(seven_class_bundle)
    res = run_finetune(cfg, tmp_path / "run", stream=None)
    card, state = load_bundle(res.bundle)
    assert card.segmentation_classes == 7
    assert card.heads["segmentation"]["labels"]["6"] == "right inferior lateral ventricle"
    assert card.training_data["masks_annotate"] == ["hippocampus"]
    assert "marginal" in card.training_data["loss"]
    # scored on what the masks label: hippocampus metrics only, no amygdala Dice against empty masks
    assert "dice_left" in card.metrics and not any("amygdala" in k for k in card.metrics)
    _, start = load_bundle(seven_class_bundle)
    out = sorted(k for k in start if k.startswith("decoder.") and start[k].shape[:1] == (7,))
    assert out and all(state[k].shape == start[k].shape for k in out)
