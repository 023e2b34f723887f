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
    # --pretrain-set reaches the pretraining config (the KoLeo control of the README)
    subprocess.run([*cmd[:4], str(tmp_path / "control"), *cmd[5:], "--stages", "pretrain",
                    "--pretrain-set", "ssl.model_kwargs.w_koleo=0.5"], check=True, cwd=ROOT, timeout=900)
    import yaml

    config = yaml.safe_load((tmp_path / "control" / "pretrain" / "config.yaml").read_text())
    assert config["ssl"]["model_kwargs"]["w_koleo"] == 0.5

    from volta_core.infer.predictor import Predictor
    from volta_core.io import load_volume, sample_scan_path

    prediction = Predictor.from_bundle(bundle, "cpu").predict(load_volume(sample_scan_path()))
    assert set(prediction.volumes_ml) >= {"left", "right"}


@pytest.mark.slow
@pytest.mark.timeout(2400)
def test_structures_stage_upgrades_the_installed_bundle(tmp_path):
    """--label-maps: from the hippocampus model to hippocampus + amygdala + ventricle, tested on the
    held-out individual map, installed with a card that says what changed (CI stand-in for the
    SynthSeg maps: copies of fsaverage's aseg.mgz)."""
    import shutil

    from tests.helpers.label_maps import fsaverage_label_maps

    maps = fsaverage_label_maps(tmp_path / "maps")
    out, models = tmp_path / "build", tmp_path / "models"
    base = [sys.executable, str(ROOT / "scripts" / "build_model.py"), "--quick", "--out", str(out),
            "--install-to", str(models), "--threads", "1"]
    env = {**__import__("os").environ, "VOLTA_CACHE": str(tmp_path / "cache")}
    bad = subprocess.run([*base, "--stages", "structures"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert bad.returncode != 0 and "--label-maps" in bad.stderr
    subprocess.run([*base, "--label-maps", str(maps), "--stages", "pretrain,seg,structures"], check=True, cwd=ROOT,
                   env=env, timeout=1500)
    bundle = models / "volta3d-hippocampus"
    card = json.loads((bundle / "model_card.json").read_text())
    assert card["architecture"]["num_classes"] == 7
    assert "left inferior lateral ventricle" in card["heads"]["segmentation"]["labels"].values()
    chain = ["structures", "structures_refine", "structures_refine2", "structures_refine3", "structures_refine4",
             "structures_pyramid", "structures_pyramid2", "structures_pyramid3"]
    assert [r["stage"] for r in card["training_data"]["structures"]] == chain
    assert card["architecture"]["decoder"]["image_pyramid"] is True  # parts 6 to 8 add the decoder's pyramid
    assert card["training_data"]["structures"][-1]["steps"] == 2  # the smoke preset's budget
    assert card["metrics"]["heldout_individual"]["maps"] == ["map_training_seg_05"]
    assert "dice_amygdala_left" in card["metrics"]["heldout_individual"]["summary"]["t1"]
    seen = card["metrics"]["seen_individual"]  # the same test on a map it trained on
    assert seen["maps"] == ["map_training_seg_01"] and seen["hippocampus_volume_fit_t1"] is None  # 1 map: no slope
    assert "sex" not in card["metrics"] and not card["heads"]["sex"]["trained"]
    assert card["limitations"][0].startswith("Trained on synthetic images drawn from one average-brain")
    assert not any(line.startswith("Trained only on synthetic") for line in card["limitations"])
    assert any("SynthSeg" in k for k in card["training_data"]["sources"])
    assert (bundle / "ood_stats.safetensors").is_file()

    from volta_core.infer.predictor import Predictor
    from volta_core.io import load_volume, sample_scan_path

    prediction = Predictor.from_bundle(bundle, "cpu").predict(load_volume(sample_scan_path()))
    assert {"left", "right"} <= set(prediction.volumes_ml)
    # run again: everything is done and installed, so the installed bundle is left as it is
    before = (bundle / "model_card.json").read_bytes()
    rerun = subprocess.run([*base, "--label-maps", str(maps), "--stages", "structures"], check=True, cwd=ROOT,
                           env=env, capture_output=True, text=True, timeout=900)
    assert "installed already" in rerun.stdout and (bundle / "model_card.json").read_bytes() == before
    # a chain cut short goes on from its last finished run
    shutil.rmtree(out / chain[-1])
    resumed = subprocess.run([*base, "--label-maps", str(maps), "--stages", "structures"], check=True, cwd=ROOT,
                             env=env, capture_output=True, text=True, timeout=900)
    assert f"{chain[-2]}: done" in resumed.stdout and f"{chain[-1]}: fine-tuning" in resumed.stdout
    # earlier runs whose folders are gone are not run again: the chain goes on from the last one done,
    # and the card keeps their record
    for name in chain[:2]:
        shutil.rmtree(out / name)
    shutil.rmtree(out / chain[-1])
    later = subprocess.run([*base, "--label-maps", str(maps), "--stages", "structures"], check=True, cwd=ROOT,
                           env=env, capture_output=True, text=True, timeout=900)
    assert f"{chain[0]}: not run again" in later.stdout and f"{chain[-1]}: fine-tuning" in later.stdout
    assert f"{chain[0]}: fine-tuning" not in later.stdout
    card = json.loads((bundle / "model_card.json").read_text())
    assert [r["stage"] for r in card["training_data"]["structures"]] == chain
    assert card["training_data"]["structures"][0]["steps"] == 2  # the record of the run that is gone
    # a fresh chain refuses to start from a model that is no longer the hippocampus-only one
    for name in (*chain, "seg"):
        shutil.rmtree(out / name, ignore_errors=True)  # the first two are gone already
    again = subprocess.run([*base, "--label-maps", str(maps), "--stages", "structures"], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=900)
    assert again.returncode != 0 and "hippocampus-only" in (again.stdout + again.stderr)


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_t1seg_stage_installs_a_t1_segmenter_beside_the_general_one(tmp_path):
    """The t1seg stage from an installed structures model (the shipped one): three short runs, the
    gate from the training maps, the T1 segmenter in half precision beside the general one, the
    bundle tested as shipped, and the general segmenter's numbers kept under their own names."""
    import shutil

    from safetensors.torch import load_file

    from tests.helpers.label_maps import fsaverage_label_maps
    from volta_core.infer.predictor import Predictor
    from volta_core.io import load_volume, sample_scan_path

    maps = fsaverage_label_maps(tmp_path / "maps")
    shipped = ROOT / "resources" / "models" / "volta3d-hippocampus"
    models = tmp_path / "models"
    bundle = Path(shutil.copytree(shipped, models / "volta3d-hippocampus"))
    (bundle / "segmentation_t1.safetensors").unlink(missing_ok=True)  # start from the general model alone
    card = json.loads((bundle / "model_card.json").read_text())
    card["heads"]["segmentation"].pop("t1_variant", None)
    general = card["metrics"].get("heldout_individual_general", card["metrics"]["heldout_individual"])
    for key in ("heldout_individual", "heldout_fsaverage", "seen_individual"):
        card["metrics"][key] = card["metrics"].pop(f"{key}_general", card["metrics"][key])
    (bundle / "model_card.json").write_text(json.dumps(card))
    base = [sys.executable, str(ROOT / "scripts" / "build_model.py"), "--quick", "--out", str(tmp_path / "build"),
            "--install-to", str(models), "--threads", "1", "--stages", "t1seg"]
    env = {**__import__("os").environ, "VOLTA_CACHE": str(tmp_path / "cache")}
    bad = subprocess.run(base, cwd=ROOT, env=env, capture_output=True, text=True)
    assert bad.returncode != 0 and "--label-maps" in bad.stderr
    done = subprocess.run([*base, "--label-maps", str(maps)], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=1500)
    assert done.returncode == 0, done.stderr[-3000:]
    card = json.loads((bundle / "model_card.json").read_text())
    variant = card["heads"]["segmentation"]["t1_variant"]
    assert [r["stage"] for r in variant["training"]] == ["t1seg_a", "t1seg_b", "t1seg_c"]
    assert [r["seed"] for r in variant["training"]] == [11, 13, 14] and variant["training"][-1]["steps"] == 2
    low, high = max(variant["gate_measured_on"]["random"]), min(variant["gate_measured_on"]["t1"])
    assert low < variant["min_template_correlation"] < high  # one map, one seed: the two renderings
    stored = load_file(str(bundle / "segmentation_t1.safetensors"))
    assert {str(v.dtype) for v in stored.values() if v.is_floating_point()} == {"torch.float16"}
    assert sum(f.stat().st_size for f in bundle.iterdir()) <= 50e6
    assert card["metrics"]["heldout_individual_general"] == json.loads(json.dumps(general))
    assert card["metrics"]["heldout_individual"]["maps"] == ["map_training_seg_05"]
    assert set(card["metrics"]["heldout_fsaverage"]) == {"clean", "thick_6mm"}
    assert any(line.startswith("T1 segmenter:") for line in card["limitations"])
    assert card["metrics"]["seen_individual"]["maps"] == ["map_training_seg_01"]  # the bundle as shipped
    assert "seen_individual_general" in card["metrics"]
    assert card["heads"]["sex"]["trained"]  # the shipped sex head stays
    # new segmentation weights make a new model: the card says when and from which code
    assert card["created"] > json.loads((shipped / "model_card.json").read_text())["created"]
    assert card["code_version"] == card["recipe"]["t1seg_code_version"] != ""
    prediction = Predictor.from_bundle(bundle, "cpu").predict(load_volume(sample_scan_path()))
    assert prediction.model.segmenter.startswith("t1 (template correlation")
    before = (bundle / "model_card.json").read_bytes()
    again = subprocess.run([*base, "--label-maps", str(maps)], cwd=ROOT, env=env, capture_output=True, text=True,
                           timeout=600, check=True)
    assert "t1seg: installed already" in again.stdout and (bundle / "model_card.json").read_bytes() == before
