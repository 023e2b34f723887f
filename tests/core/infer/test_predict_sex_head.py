"""The bundled model's sex head through `volta predict`: P(male) in the CSV and JSON, never more
certain than the card's held-out range, and the card's caveat printed before the first scan."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

from volta_core.io import sample_scan_path

ROOT = Path(__file__).resolve().parents[3]
BUNDLED = ROOT / "resources" / "models" / "volta3d-hippocampus"


def test_volta_predict_gives_p_male_with_the_cards_caveat(tmp_path: Path) -> None:
    card = json.loads((BUNDLED / "model_card.json").read_text())
    sex = card["heads"]["sex"]
    assert sex["trained"] and "72" in sex["note"] and "19 M / 53 F" in sex["note"]
    assert not card["heads"]["ad"]["trained"]
    done = subprocess.run([sys.executable, "-m", "volta_core.cli", "predict", str(sample_scan_path()),
                           "--out", str(tmp_path), "--threads", "1"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert f"P(male): {sex['note']}" in done.stderr
    row = next(csv.DictReader(open(tmp_path / "results.csv", encoding="utf-8")))
    low, high = sex["probability_range"]
    assert low <= float(row["p_sex_male"]) <= high
    assert row["p_ad"] == "not trained"
    assert row["segmenter"].startswith("t1 (template correlation")  # a T1 scan: the T1 segmenter drew it


def test_the_sex_head_reads_the_brain_only_so_what_lies_outside_cannot_move_it() -> None:
    """The card's ``input_mask``: the head reads the view times the eroded template brain mask, so a
    skull, scalp or neck (anything outside it) leaves P(male) exactly as it is, while the
    segmentation still sees the whole view."""
    import numpy as np

    from volta_core.infer.predictor import Predictor
    from volta_core.io import load_volume
    from volta_core.preprocess.pipeline import preprocess

    predictor = Predictor.from_bundle(BUNDLED, device="cpu")
    assert predictor.card.heads["sex"]["input_mask"] == {"kind": "template_brain", "erode_voxels": 2}
    mask = predictor.head_masks["sex"][0, 0].numpy() > 0
    assert 0.3 < mask.mean() < 0.9
    data = preprocess(load_volume(sample_scan_path()), predictor.spec, template=predictor.template).data
    noisy = data.copy()
    noisy[~mask] = np.random.default_rng(0).uniform(0, 1, int((~mask).sum()))
    for tta in (False, True):
        seg, cls, _ = predictor._run_network(data, tta)
        seg_noisy, cls_noisy, _ = predictor._run_network(noisy, tta)
        np.testing.assert_allclose(cls_noisy["sex"], cls["sex"], atol=1e-6)
        assert np.abs(seg_noisy - seg).max() > 1e-3
    # and it computes exactly what build_sex_head.py fitted: the probe on the mean of the masked
    # view's and its mirror's features (card: mirror_average)
    import torch

    from volta_core.train.linear_probe import probe_features

    assert predictor.card.heads["sex"]["mirror_average"] is True
    features = probe_features(predictor.model, (data * mask)[None])
    with torch.inference_mode():
        fitted = torch.softmax(predictor.model.heads["sex"].mlp(torch.from_numpy(features)), dim=1)[0].numpy()
    np.testing.assert_allclose(predictor._run_network(data, False)[1]["sex"], fitted, atol=1e-5)


def test_a_head_input_mask_this_version_cannot_apply_is_refused(tmp_path: Path) -> None:
    import shutil

    import pytest

    from volta_core.infer.predictor import Predictor
    from volta_core.contracts.model_card import BundleError

    bundle = tmp_path / "bundle"
    shutil.copytree(BUNDLED, bundle)
    card = json.loads((bundle / "model_card.json").read_text())
    card["heads"]["sex"]["input_mask"] = {"kind": "skull_strip_net", "erode_voxels": 0}
    (bundle / "model_card.json").write_text(json.dumps(card))
    with pytest.raises(BundleError, match="input mask"):
        Predictor.from_bundle(bundle, device="cpu")
