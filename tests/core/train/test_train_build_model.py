"""The model recipe end to end in its smoke preset (slow: ~3-10 min on 2 cores)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.slow
def test_build_model_quick_runs_every_stage_and_packages_a_loadable_bundle(tmp_path):
    out, models = tmp_path / "build", tmp_path / "models"
    cmd = [sys.executable, str(ROOT / "scripts" / "build_model.py"), "--quick", "--out", str(out),
           "--install-to", str(models), "--threads", "1", "--fewshot-sizes", "1", "--fewshot-seeds", "0"]
    subprocess.run(cmd, check=True, cwd=ROOT, timeout=1500)
    bundle = models / "volta3d-hippocampus"
    card = json.loads((bundle / "model_card.json").read_text())
    assert card["recipe"]["command"] == "python scripts/build_model.py --preset quick"
    assert set(card["metrics"]["heldout_fsaverage"]) == {"clean", "thick_6mm"}
    # the preset's step budget wins over the recipe's 4000 steps (a smoke run must stay a smoke run)
    assert card["training_data"]["fine_tuning"]["steps"] == 2
    assert 0.0 <= card["metrics"]["baseline_registered_dk_atlas"]["dice"] <= 1.0
    assert card["metrics"]["swap_dk"]["dice_left"] >= 0.0
    assert card["limitations"] and "research" in card["intended_use"]
    assert (bundle / "ood_stats.safetensors").is_file()
    assert "| 1 |" in (out / "tables.md").read_text()
    # a second run finds every stage done and only re-packages
    done = subprocess.run(cmd, check=True, cwd=ROOT, timeout=900, capture_output=True, text=True)
    assert "pretrain: done" in done.stdout

    from volta_core.infer.predictor import Predictor
    from volta_core.io import load_volume, sample_scan_path

    prediction = Predictor.from_bundle(bundle, "cpu").predict(load_volume(sample_scan_path()))
    assert set(prediction.volumes_ml) >= {"left", "right"}
