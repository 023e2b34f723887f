"""scripts/record_transfer.py: the real-pretraining record in a card and the README tables."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from scripts import record_transfer  # noqa: E402


def _fewshot() -> dict:
    out = {}
    for n in (1, 2):
        for seed in range(3):
            for init, dice in (("pretrained", 0.5 + 0.1 * seed), ("scratch", 0.55)):
                out[f"{init}-n{n}-s{seed}"] = {"init": init, "n": n, "seed": seed, "dice": dice, "eval": "grid"}
    return out


def test_seg_table_pairs_runs_by_seed():
    table = record_transfer.seg_table(_fewshot())
    assert list(table) == ["1", "2"]
    assert table["1"]["pretrained"]["mean"] == pytest.approx(0.6)
    assert table["1"]["pretrained"]["n_seeds"] == 3 and table["1"]["scratch"]["sd"] == pytest.approx(0.0)
    assert table["1"]["pretrained_wins"] == "2/3"  # seeds 1 and 2 beat 0.55, seed 0 does not


def test_results_of_a_partly_finished_stage_are_read_from_their_folders(tmp_path):
    for key, record in _fewshot().items():
        (tmp_path / key).mkdir()
        (tmp_path / key / "result.json").write_text(json.dumps(record))
    (tmp_path / "scratch-n9-s0").mkdir()  # a run still going: no result yet
    (tmp_path / "old").mkdir()  # tested the earlier way: left out
    (tmp_path / "old" / "result.json").write_text(json.dumps({"init": "scratch", "n": 1, "seed": 9, "dice": 0.1}))
    assert record_transfer.read_fewshot(tmp_path) == _fewshot()


def test_record_goes_into_the_card_and_leaves_the_rest(tmp_path, capsys):
    pre = tmp_path / "pre"
    (pre / "bundle").mkdir(parents=True)
    (pre / "config.yaml").write_text("steps: 40\nbatch_size: 8\nreal_fraction: 0.5\noptim: {lr: 0.0001}\n")
    (pre / "bundle" / "model_card.json").write_text(json.dumps({
        "training_data": {"source": "synthetic + real", "real_n_subjects": 72, "real_data_sha256": "ab" * 32},
        "metrics": {"loss": 11.5, "training_curve": {"step": [10, 20], "teacher_diversity": [0.1, 0.5]}}}))
    few = tmp_path / "fewshot.json"
    few.write_text(json.dumps(_fewshot()))
    shot = {"mean": 0.6, "sd": 0.1}
    cv = {"auroc": 0.7, "ci95": [0.6, 0.8]}
    sex = tmp_path / "sex.json"
    sex.write_text(json.dumps({"few_shot": {"8": {"probe": shot, "probe_random": shot, "probe_real": shot}},
                               "cv": {"probe": cv, "probe_random": cv, "probe_real": cv, "icv": cv}}))
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "model_card.json").write_text(json.dumps({"name": "m", "metrics": {"sex": {"x": 1}}}))
    assert record_transfer.main(["--pretrain", str(pre), "--fewshot", str(few), "--sex", str(sex),
                                 "--bundle", str(bundle), "--steps", "200"]) == 0
    card = json.loads((bundle / "model_card.json").read_text())
    assert card["name"] == "m" and card["metrics"]["sex"] == {"x": 1}
    record = card["metrics"]["real_pretraining"]
    assert record["pretraining"]["training_curve"]["teacher_diversity"] == [0.1, 0.5]
    assert record["pretraining"]["steps"] == 40 and record["fewshot_segmentation"]["steps_per_run"] == 200
    assert record["fewshot_sex"]["by_labelled_subjects"]["8"]["pretrained"] == shot
    out = capsys.readouterr().out
    assert "| 1 | 0.600 ± 0.100 | 0.550 ± 0.000 | 2/3 |" in out and "| 8 | 0.600 ± 0.100" in out


def test_a_record_without_the_segmentation_runs_takes_the_curve_from_the_log(tmp_path, capsys):
    """A pretraining card without a curve (the shipped record of 2026-11-30 had none): the run's
    metrics.jsonl gives it; without either the script refuses, instead of recording no curve."""
    pre = tmp_path / "pre"
    (pre / "bundle").mkdir(parents=True)
    (pre / "config.yaml").write_text("steps: 2\nssl: {model_kwargs: {w_koleo: 0.1}}\n")
    (pre / "bundle" / "model_card.json").write_text(json.dumps({"training_data": {}, "metrics": {"loss": 1.0}}))
    shot, cv = {"mean": 0.6, "sd": 0.1}, {"auroc": 0.7, "ci95": [0.6, 0.8]}
    sex = tmp_path / "sex.json"
    sex.write_text(json.dumps({"few_shot": {"8": {"probe": shot, "probe_random": shot, "probe_k": shot}},
                               "cv": {"probe": cv, "probe_random": cv, "probe_k": cv, "icv": cv}}))
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "model_card.json").write_text(json.dumps({"name": "m", "metrics": {}}))
    args = ["--pretrain", str(pre), "--sex", str(sex), "--bundle", str(bundle), "--compare-name", "k",
            "--key", "real_pretraining_koleo"]
    with pytest.raises(SystemExit, match="no training curve"):
        record_transfer.main(args)
    steps = [{"event": "step", "step": s, "loss": 2.0 - s, "teacher_diversity": 0.1 * s, "teacher_entropy": 6.0}
             for s in (1, 2)]
    (pre / "metrics.jsonl").write_text("".join(json.dumps(e) + "\n" for e in steps))
    diagnosis = tmp_path / "diag.json"
    diagnosis.write_text(json.dumps({"k": {"effective_dim_real": 9.0}}))
    assert record_transfer.main([*args, "--diagnosis", str(diagnosis)]) == 0
    record = json.loads((bundle / "model_card.json").read_text())["metrics"]["real_pretraining_koleo"]
    assert record["pretraining"]["training_curve"]["teacher_diversity"] == [0.1, 0.2]
    assert record["pretraining"]["ssl"] == {"model_kwargs": {"w_koleo": 0.1}}
    assert "not_run" in record["fewshot_segmentation"]
    assert record["feature_diagnosis"] == {"k": {"effective_dim_real": 9.0}}
    assert "labelled maps" not in capsys.readouterr().out
