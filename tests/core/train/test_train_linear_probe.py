"""A linear probe on the bundled encoder becomes a shipped head with no loss, and adding it keeps
every other part of the bundle (segmentation, OOD statistics) exactly as it was."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from volta_core.infer.predictor import Predictor
from volta_core.io import load_volume, sample_scan_path
from volta_core.model.bundle import load_bundle
from volta_core.train.linear_probe import (
    add_head,
    fit_probe,
    load_bundle_model,
    probe_features,
    probe_head_state,
)

BUNDLED = Path(__file__).resolve().parents[3] / "resources" / "models" / "volta3d-hippocampus"


def test_probe_separates_what_is_separable_and_is_regularised() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 5)) * [1.0, 100.0, 0.01, 1.0, 1.0]  # scales differ: standardised first
    y = (x[:, 2] > 0).astype(int)
    probe = fit_probe(x, y, c=10.0)
    p = probe.probability(x)
    assert ((p > 0.5) == y).mean() > 0.95
    assert abs(probe.weight[2]) > 5 * np.abs(np.delete(probe.weight, 2)).max()
    weak = fit_probe(x, y, c=1e-4)
    assert np.abs(weak.weight).max() < np.abs(probe.weight).max() / 10  # the L2 penalty shrinks
    with pytest.raises(ValueError, match="both classes"):
        fit_probe(x, np.zeros(60))


def test_a_probe_written_as_the_sex_head_gives_the_probes_probability_and_keeps_the_rest(tmp_path: Path) -> None:
    card, model = load_bundle_model(BUNDLED)
    size = tuple(card.input["size"])
    rng = np.random.default_rng(1)
    x = rng.normal(size=(10, *size)).astype(np.float32)
    x[::2] += np.linspace(-1, 1, size[0])[:, None, None]  # something for the probe to find
    y = np.array([1, 0] * 5)
    feats = probe_features(model, x, mirror=False)
    probe = fit_probe(feats, y, c=1.0)
    head_card = {"trained": True, "labels": {"0": "F", "1": "M"}, "note": "test head"}
    out = add_head(BUNDLED, tmp_path / "with_sex", "sex", probe_head_state(probe, model.encoder.embed_dim),
                   head_card=head_card, card_updates={"limitations": ["a test bundle"]})

    new_card, new_model = load_bundle_model(out)
    assert new_card.architecture["model"] == "multitask" and new_card.heads["sex"]["trained"]
    assert new_card.limitations == ["a test bundle"]
    with torch.inference_mode():
        tokens = new_model.encoder(torch.from_numpy(x[:4])[:, None])
        p_head = torch.softmax(new_model.heads["sex"](tokens.cls_token, tokens.patch_tokens), 1)[:, 1].numpy()
    assert np.allclose(p_head, probe.probability(feats[:4]), atol=1e-4)
    _, old_state = load_bundle(BUNDLED)
    _, new_state = load_bundle(out)
    assert all(torch.equal(v, new_state[k]) for k, v in old_state.items()
               if not k.startswith("heads.sex."))  # encoder, decoder and other heads unchanged
    assert (out / "ood_stats.safetensors").is_file()

    scan = load_volume(sample_scan_path())
    before = Predictor.from_bundle(BUNDLED, "cpu").predict(scan)
    after = Predictor.from_bundle(out, "cpu").predict(scan)
    assert after.volumes_ml == before.volumes_ml
    sex = after.classification["sex"]
    assert sex.trained and 0.0 <= sex.probability <= 1.0 and sex.note == "test head"
    # a card's probability_range caps the certainty the head may claim
    out_card = out / "model_card.json"
    card_json = json.loads(out_card.read_text())
    card_json["heads"]["sex"]["probability_range"] = [0.4, 0.45]
    out_card.write_text(json.dumps(card_json))
    capped = Predictor.from_bundle(out, "cpu").predict(scan).classification["sex"].probability
    assert 0.4 <= capped <= 0.45
    assert not after.classification["ad"].trained


def test_calibration_pulls_an_overconfident_probe_towards_one_half() -> None:
    from volta_core.train.linear_probe import calibrated

    rng = np.random.default_rng(2)
    y = np.array([1] * 20 + [0] * 40)
    weak = rng.normal(size=(60, 30))
    weak[:, 0] += 0.8 * y  # a weak signal among noise: a probe with little penalty overfits
    probe = fit_probe(weak, y, c=10.0)
    held_out = 5.0 * (y - 0.5) * 0.3 + rng.normal(size=60) * 3.0  # out-of-fold logits: noisy, too large
    tempered, slope, _ = calibrated(probe, held_out, y)
    assert 0.0 < slope < 1.0
    assert np.abs(tempered.logit(weak)).mean() < np.abs(probe.logit(weak)).mean()
    with pytest.raises(ValueError, match="both classes"):
        calibrated(probe, held_out, np.zeros(60))
