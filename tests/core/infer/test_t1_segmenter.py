"""A bundle with a T1 segmenter beside the general one: the card's contrast rule picks it, the user
can force either, the outputs say which drew the masks, and a damaged entry is named."""

from __future__ import annotations

import csv
import json
import os
import shutil
import stat
from pathlib import Path

import numpy as np
import pytest
from safetensors.torch import load_file

from tests.core.infer.conftest import save_nifti
from volta_core.cli import main as volta
from volta_core.contracts.model_card import CARD_FILE, BundleError
from volta_core.infer import Predictor
from volta_core.infer.export import csv_row
from volta_core.infer.predictor import PredictionError
from volta_core.io import Volume
from volta_core.model.bundle import T1_WEIGHTS_FILE, WEIGHTS_FILE, load_t1_segmenter, save_t1_segmenter


def with_t1_segmenter(source: Path, dest: Path, gate: float, blind: bool) -> Path:
    """A copy of ``source`` whose T1 segmenter is its own network (``blind``: one whose background
    always wins, so every mask it draws is empty) behind the gate ``gate``."""
    shutil.copytree(source, dest)
    state = load_file(str(dest / WEIGHTS_FILE))
    if blind:
        state["decoder.out.bias"] = state["decoder.out.bias"].clone()
        state["decoder.out.bias"][0] += 1000.0
    save_t1_segmenter(dest, state)
    card = json.loads((dest / CARD_FILE).read_text())
    card["heads"]["segmentation"]["t1_variant"] = {"min_template_correlation": gate, "note": "test"}
    (dest / CARD_FILE).write_text(json.dumps(card))
    return dest


@pytest.fixture(scope="module")
def blind_t1_bundle(trained_segmenter_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return with_t1_segmenter(trained_segmenter_bundle, tmp_path_factory.mktemp("t1") / "blind", 0.3, blind=True)


def inverted(scan: Volume) -> Volume:
    return Volume(scan.data.max() - scan.data, scan.affine, dict(scan.metadata))


def test_half_precision_t1_segmenter_draws_the_same_masks(trained_segmenter_bundle: Path, template_scan,
                                                          tmp_path: Path) -> None:
    bundle = with_t1_segmenter(trained_segmenter_bundle, tmp_path / "same", 0.3, blind=False)
    stored = load_file(str(bundle / T1_WEIGHTS_FILE))
    assert {str(v.dtype) for v in stored.values() if v.is_floating_point()} == {"torch.float16"}
    assert (bundle / T1_WEIGHTS_FILE).stat().st_size < 0.6 * (bundle / WEIGHTS_FILE).stat().st_size
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE((bundle / T1_WEIGHTS_FILE).stat().st_mode) == 0o666 & ~umask  # like any new file
    predictor = Predictor.from_bundle(bundle, "cpu")
    general = predictor.predict(template_scan, segmenter="general")
    t1 = predictor.predict(template_scan, segmenter="t1")
    assert general.volumes_ml["total"] > 0.5
    assert np.count_nonzero(general.labels != t1.labels) <= 1e-4 * t1.labels.size
    assert t1.model.segmenter == "t1 (chosen by the user)"


def test_the_contrast_rule_picks_the_segmenter(blind_t1_bundle: Path, template_scan) -> None:
    predictor = Predictor.from_bundle(blind_t1_bundle, "cpu")
    t1 = predictor.predict(template_scan)  # a T1 scan: the (blind) T1 segmenter draws its masks
    assert t1.quality.template_correlation > 0.3
    assert t1.model.segmenter.startswith("t1 (template correlation ") and ">= 0.300" in t1.model.segmenter
    assert t1.volumes_ml["total"] == 0.0
    general = predictor.predict(template_scan, segmenter="general")
    assert general.volumes_ml["total"] > 0.5 and general.model.segmenter == "general (chosen by the user)"
    # the classification heads and features are the general model's either way
    assert general.quality.ood_score == pytest.approx(t1.quality.ood_score, abs=1e-6)
    other = predictor.predict(inverted(template_scan))  # inverted contrast: the general segmenter
    assert other.quality.template_correlation < 0
    assert other.model.segmenter.startswith("general (template correlation -") and "< 0.300" in other.model.segmenter
    row = csv_row(t1)
    assert row["segmenter"] == t1.model.segmenter and t1.summary()["model"]["segmenter"] == t1.model.segmenter


def test_a_bundle_with_one_segmenter_says_nothing_and_refuses_t1(trained_segmenter_bundle: Path,
                                                                  template_scan) -> None:
    predictor = Predictor.from_bundle(trained_segmenter_bundle, "cpu")
    assert predictor.t1_segmenter is None
    assert predictor.choose_segmenter(0.9) == (False, "")
    with pytest.raises(PredictionError, match="has no T1 segmenter"):
        predictor.predict(template_scan, segmenter="t1")
    with pytest.raises(ValueError, match="segmenter must be one of"):
        predictor.predict(template_scan, segmenter="T2")


def test_a_damaged_t1_entry_is_named(blind_t1_bundle: Path, tmp_path: Path) -> None:
    missing = Path(shutil.copytree(blind_t1_bundle, tmp_path / "missing"))
    (missing / T1_WEIGHTS_FILE).unlink()
    with pytest.raises(BundleError, match="names a T1 segmenter but .* is missing"):
        Predictor.from_bundle(missing, "cpu")
    corrupt = Path(shutil.copytree(blind_t1_bundle, tmp_path / "corrupt"))
    (corrupt / T1_WEIGHTS_FILE).write_bytes(b"not safetensors")
    with pytest.raises(BundleError, match="damaged or not a safetensors file"):
        Predictor.from_bundle(corrupt, "cpu")
    gate = Path(shutil.copytree(blind_t1_bundle, tmp_path / "gate"))
    card = json.loads((gate / CARD_FILE).read_text())
    card["heads"]["segmentation"]["t1_variant"]["min_template_correlation"] = "high"
    (gate / CARD_FILE).write_text(json.dumps(card))
    with pytest.raises(BundleError, match="min_template_correlation between -1 and 1"):
        Predictor.from_bundle(gate, "cpu")
    from volta_core.model.bundle import load_model

    card_obj, _ = load_model(blind_t1_bundle)
    assert load_t1_segmenter(blind_t1_bundle, card_obj) is not None


def test_cli_segmenter_option(blind_t1_bundle: Path, trained_segmenter_bundle: Path, template_scan, tmp_path: Path,
                              capsys) -> None:
    scan = save_nifti(template_scan, tmp_path / "t1.nii.gz")
    out = tmp_path / "out"
    args = ["predict", str(scan), "--out", str(out), "--device", "cpu", "--quiet"]
    assert volta(args + ["--model", str(blind_t1_bundle)]) == 0

    def row() -> dict[str, str]:
        with open(out / "results.csv", newline="") as handle:
            return next(csv.DictReader(handle))

    assert row()["segmenter"].startswith("t1 (template correlation") and float(row()["hippocampus_total_ml"]) == 0
    assert volta(args + ["--model", str(blind_t1_bundle), "--segmenter", "general"]) == 0  # redone, not skipped
    assert row()["segmenter"] == "general (chosen by the user)" and float(row()["hippocampus_total_ml"]) > 0.5
    assert volta(args + ["--model", str(trained_segmenter_bundle), "--segmenter", "t1"]) == 2
    assert "has no T1 segmenter; use --segmenter auto or general" in capsys.readouterr().err


def test_the_shipped_bundle_holds_a_t1_segmenter_within_50_mb() -> None:
    from volta_core.contracts.model_card import read_card
    from volta_core.infer.cli_predict import default_bundle
    from volta_core.model.bundle import t1_variant_info

    bundle = Path(default_bundle())
    card = read_card(bundle)
    variant = t1_variant_info(card)
    assert variant is not None and 0.0 < variant["min_template_correlation"] < 1.0
    assert (bundle / T1_WEIGHTS_FILE).is_file()
    assert sum(f.stat().st_size for f in bundle.iterdir() if f.is_file()) <= 50e6
    # the card keeps the general segmenter's own test beside the bundle's as shipped
    assert {"heldout_individual", "heldout_individual_general"} <= set(card.metrics)


def test_adding_a_sex_head_keeps_the_t1_segmenter(blind_t1_bundle: Path, tmp_path: Path) -> None:
    """scripts/build_sex_head.py installs through add_head, which may run after the t1seg stage."""
    from volta_core.model.heads.classifier import ClassificationHead
    from volta_core.train.linear_probe import PROBE_HEAD, add_head

    card = json.loads((blind_t1_bundle / CARD_FILE).read_text())
    embed = int(card["architecture"]["overrides"]["embed_dim"])
    head = ClassificationHead(embed, **PROBE_HEAD).state_dict()
    out = add_head(blind_t1_bundle, tmp_path / "with_sex", "sex", head,
                   head_card={"trained": True, "labels": {"0": "F", "1": "M"}})
    assert (out / T1_WEIGHTS_FILE).read_bytes() == (blind_t1_bundle / T1_WEIGHTS_FILE).read_bytes()
    predictor = Predictor.from_bundle(out, "cpu")
    assert predictor.t1_segmenter is not None and predictor.t1_variant["min_template_correlation"] == 0.3
