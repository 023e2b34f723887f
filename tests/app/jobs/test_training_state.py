"""Qt-free training state: the job command, run folders, event folding, status and failure
detection, run-location checks, configs and the model registry (no QApplication, no torch)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from app.jobs.estimate import estimate_epoch_seconds
from app.jobs.failures import explain_failure
from app.jobs.launch import JobSpec, volta_args, volta_command
from app.jobs.locations import RunLocationError, check_run_location
from app.jobs.processes import process_alive, start_token
from app.jobs.registry import (
    RegistryError,
    delete_model,
    export_model,
    register_bundle,
    rename_model,
)
from app.jobs.run_folder import TrainingJob, scan_runs
from app.state.job_config import JobConfigError, resolve, set_values
from app.state.job_progress import JobProgress, MetricsTail, format_duration
from app.state.model_catalog import ModelEntry, available_models


def _event(kind: str, **fields) -> str:
    return json.dumps({"event": kind, "time": fields.pop("time", time.time()), "run": "r", **fields}) + "\n"


def _fake_bundle(folder: Path, name: str = "volta3d-vit3d_tiny-seg") -> Path:
    folder.mkdir(parents=True)
    (folder / "model_card.json").write_text(json.dumps({"name": name, "heads": {"segmentation": {"trained": True}}}))
    (folder / "model.safetensors").write_bytes(b"weights")
    return folder


def test_job_command_runs_the_app_itself_source_and_frozen() -> None:
    assert volta_command(["finetune", "--task", "seg"], frozen=False, executable="/py") == [
        "/py", "-m", "app", "--volta-cli", "finetune", "--task", "seg"]
    assert volta_command(["pretrain"], frozen=True, executable="/opt/VolTA/volta-studio") == [
        "/opt/VolTA/volta-studio", "--volta-cli", "pretrain"]
    assert volta_command(["pretrain"])[:4] == [sys.executable, "-m", "app", "--volta-cli"]


def test_volta_args_for_finetune_and_pretrain(tmp_path: Path) -> None:
    spec = JobSpec(task="ad", data_path="/data/my bids", init="/models/pre", device="cpu", threads=1,
                   overrides=["epochs=2"])
    args = volta_args(spec, tmp_path, resume=True)
    assert args[:7] == ["finetune", "--task", "ad", "--data", "/data/my bids", "--init", "/models/pre"]
    assert args[args.index("--config") + 1] == str(tmp_path / "job_config.yaml")
    assert "--resume" in args and args[-3:] == ["device=cpu", "threads=1", "epochs=2"]
    pre = volta_args(JobSpec(task="pretrain"), tmp_path, resume=False)
    assert pre[0] == "pretrain" and "--task" not in pre and "--resume" not in pre
    assert any(a.startswith("threads=") and int(a.split("=")[1]) >= 1 for a in pre)


def test_metrics_tail_reads_only_complete_new_lines(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    tail = MetricsTail(path)
    assert tail.read_new() == []  # no file yet
    with open(path, "w") as f:
        f.write(_event("started", step=0, total_steps=4) + "warning: not json\n" + '{"event":"step","st')
    assert [e["event"] for e in tail.read_new()] == ["started"]
    with open(path, "a") as f:
        f.write('ep":1,"loss":0.5,"time":1}\n')
    events = tail.read_new()
    assert events == [{"event": "step", "step": 1, "loss": 0.5, "time": 1}]
    assert tail.read_new() == []


def test_progress_folds_losses_metrics_and_a_resume() -> None:
    p = JobProgress()
    p.feed({"event": "started", "step": 0, "total_steps": 6, "device": "cpu", "time": 1})
    for step in (1, 2, 3):
        p.feed({"event": "step", "step": step, "epoch": 0, "loss": 1.0 / step, "loss_dice": 0.5, "lr": 1e-3,
                "volumes_per_s": 2.0, "eta_s": 10.0, "step_s": 0.5, "time": 1 + step})
    p.feed({"event": "eval", "step": 3, "epoch": 0, "split": "val", "dice": 0.4, "auroc": "nan", "time": 5})
    p.feed({"event": "checkpoint", "step": 2, "path": "x", "time": 5})
    for _ in range(2):  # a warning repeated (e.g. after a resume) is listed once
        p.feed({"event": "warning", "step": 3, "kind": "teacher_collapse", "message": "collapsed", "time": 5})
    assert p.warnings == ["collapsed"]
    assert set(p.losses) == {"loss", "loss_dice"} and len(p.losses["loss"]) == 3
    assert p.metrics == {"dice": [(3, 0.4)]}  # non-numbers (NaN as text) are skipped
    assert p.fraction == 0.5 and p.seconds_per_step() == 0.5 and p.volumes_per_s == 2.0
    # killed after step 3, resumed from the checkpoint at step 2: step 3 is repeated
    p.feed({"event": "started", "step": 2, "total_steps": 6, "resumed": True, "time": 10})
    assert [s for s, _ in p.losses["loss"]] == [1, 2] and p.metrics == {}
    p.feed({"event": "finished", "step": 6, "time": 20})
    assert p.step == 6 and p.terminal is not None
    assert format_duration(3725) == "1 h 02 min" and format_duration(65) == "1 min 05 s"
    assert format_duration(None) == "-"


def test_eta_and_epoch_time_come_from_the_measured_steps() -> None:
    """The first epoch of a cached dataset waits for every scan to be prepared (10 s steps, 9.5 s of
    it waiting); later epochs take 0.5 s steps. The engine's moving average said 10 s x 39 steps;
    the measured figures say what is left: 39 steps of computing, 3 scans still to prepare."""
    p = JobProgress()
    config = {"epochs": 10, "val_fraction": 0.2, "data": {"cache": True}}
    p.feed({"event": "started", "step": 0, "total_steps": 40, "steps_per_epoch": 4, "n_train": 4, "n_val": 1,
            "config": config, "time": 0.0})
    assert p.eta_seconds() is None and p.epoch_seconds() == (None, "projected")
    t = 0.0
    for step in range(1, 5):
        t += 10.0
        p.feed({"event": "step", "step": step, "epoch": 0, "loss": 1.0, "step_s": 10.0, "data_wait_frac": 0.95,
                "eta_s": 390.0, "time": t})
        if step == 1:
            assert p.eta_seconds() == pytest.approx(39 * 0.5 + 3 * 9.5)
            assert p.epoch_seconds() == (pytest.approx(40.0), "projected")
    p.feed({"event": "epoch", "step": 4, "epoch": 0, "loss": 1.0, "time": 40.0})
    p.feed({"event": "eval", "step": 4, "epoch": 0, "split": "val", "dice": 0.1, "time": 41.0})
    assert p.epoch_seconds() == (pytest.approx(40.0), "measured")
    t = 41.0
    for step in range(5, 9):
        t += 0.5
        p.feed({"event": "step", "step": step, "epoch": 1, "loss": 1.0, "step_s": 0.5, "data_wait_frac": 0.0,
                "time": t})
    p.feed({"event": "epoch", "step": 8, "epoch": 1, "loss": 1.0, "time": 43.0})
    assert p.epoch_seconds() == (pytest.approx(3.0), "measured")  # cached epoch + the evaluation before it
    assert p.eta_seconds() == pytest.approx(32 * 0.5 + 8 * 1.0)  # 32 steps, 8 evaluations of 1 s
    assert format_duration(0.4) == "0.4 s" and format_duration(3.0) == "3.0 s"  # never "0 s"


def test_estimate_prefers_a_measured_epoch(tmp_path: Path) -> None:
    job = _job(tmp_path)
    job.progress.feed({"event": "started", "step": 0, "total_steps": 4, "n_train": 8, "time": 0.0,
                       "config": {"batch_size": 2}})
    job.progress.feed({"event": "step", "step": 1, "step_s": 9.0, "time": 9.0})
    job.progress.feed({"event": "epoch", "step": 1, "epoch": 0, "time": 16.0})
    seconds, source = estimate_epoch_seconds([job], n_train=4, batch_size=2, same_setup=lambda j: True)
    assert seconds == pytest.approx(8.0) and job.name in source


def _job(tmp_path: Path, **spec) -> TrainingJob:
    return TrainingJob.create(tmp_path / "runs", JobSpec(task="seg", data_path="/d", **spec), "epochs: 2\n")


def test_job_status_from_events_and_process(tmp_path: Path) -> None:
    job = _job(tmp_path)
    assert job.status == "queued" and (job.run_dir / "job.json").is_file()
    assert (job.run_dir / "job_config.yaml").read_text() == "epochs: 2\n"
    alive = {"value": True}

    def is_alive(pid, token):
        return alive["value"]

    job.mark_launched(["x"], 1234, "tok", time.time() - 0.5)
    job.poll(is_alive)
    assert job.status == "starting"
    metrics = job.run_dir / "metrics.jsonl"
    with open(metrics, "a") as f:
        f.write(_event("started", step=0, total_steps=4) + _event("step", step=1, loss=1.0))
    assert job.poll(is_alive) and job.status == "running" and job.progress.step == 1
    job.request_stop()
    job.poll(is_alive)
    assert job.status == "stopping"
    with open(metrics, "a") as f:
        f.write(_event("checkpoint", step=1) + _event("stopped", step=1, reason="stop-file"))
    job.poll(is_alive)
    assert job.status == "stopped" and job.can_resume
    # resumed: the old "stopped" event does not count for the new launch
    (job.run_dir / "STOP").unlink()
    job.mark_launched(["x", "--resume"], 1235, "tok", time.time() + 0.01)
    job.poll(is_alive)
    assert job.status == "starting"
    # the process dies without a word: failed, with the tail of stderr
    (job.run_dir / "stderr.log").write_text("Traceback ...\nOSError: [Errno 28] No space left on device\n")
    alive["value"] = False
    job.poll(is_alive)
    assert job.status == "failed" and "disk is full" in job.error
    # a later session re-reads everything from the run folder
    again = scan_runs(tmp_path / "runs")
    assert [j.id for j in again] == [job.id] and again[0].status == "failed" and again[0].progress.step == 1


def test_failed_event_message_and_killed_process(tmp_path: Path) -> None:
    job = _job(tmp_path)
    job.mark_launched(["x"], 1, None, time.time() - 1)
    with open(job.run_dir / "metrics.jsonl", "a") as f:
        f.write(_event("failed", step=0, error="DatasetInvalidError", message="missing_mask: sub-01"))
    job.poll(lambda pid, token: True)
    assert job.status == "failed" and "missing_mask" in job.error
    other = _job(tmp_path)
    other.mark_launched(["x"], 1, None, time.time())
    other.mark_killed()
    other.poll(lambda pid, token: False)
    assert other.status == "failed" and "Killed from the training panel" in other.error
    never = _job(tmp_path)
    never.mark_launched(["x"], 0, None, time.time())
    never.info["error"] = "Could not start x: no such file"
    never.poll(lambda pid, token: False)
    assert never.status == "failed" and never.error == "Could not start x: no such file"
    assert "killed" in explain_failure("").lower()
    assert "Out of memory" in explain_failure("RuntimeError: CPU out of memory")
    assert explain_failure("x\nvolta: error: bad key foo\n") == "volta: error: bad key foo"


def test_process_alive_for_a_real_process_and_a_reaped_one() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        token = start_token(child.pid)
        assert process_alive(child.pid, token)
        if token is not None:
            assert not process_alive(child.pid, token + "0")  # another process with the same pid
    finally:
        child.kill()
    time.sleep(0.2)
    assert not process_alive(child.pid, token)  # a zombie (not reaped yet) is not alive
    child.wait()
    assert not process_alive(child.pid, token)
    assert not process_alive(None)


def test_run_location_is_refused_when_unwritable_or_full(tmp_path: Path) -> None:
    check_run_location(tmp_path / "runs")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(RunLocationError, match="cannot be written"):
        check_run_location(blocker / "runs")
    with pytest.raises(RunLocationError, match="nearly full"):
        check_run_location(tmp_path / "runs", min_free=2**62)


def test_estimate_uses_an_earlier_run_with_the_same_setup(tmp_path: Path) -> None:
    job = _job(tmp_path)
    job.progress.started = {"config": {"batch_size": 2}}
    job.progress.step_s = [1.0, 1.0, 3.0]
    seconds, source = estimate_epoch_seconds([job], n_train=10, batch_size=2, same_setup=lambda j: True)
    assert seconds == pytest.approx(5.0) and job.name in source
    assert estimate_epoch_seconds([job], 10, 2, same_setup=lambda j: False)[0] is None


def test_config_text_values_and_validation() -> None:
    text = set_values("task: seg\noptim:\n  lr: 0.001\n", {"epochs": 3, "optim.lr": 0.01})
    cfg = resolve("seg", text, ["min_per_class=1"])
    assert cfg.epochs == 3 and cfg.optim.lr == 0.01 and cfg.min_per_class == 1
    assert resolve("pretrain", "steps: 7\n").steps == 7
    with pytest.raises(JobConfigError, match="epochz"):
        resolve("seg", "epochz: 3\n")
    with pytest.raises(JobConfigError, match="YAML"):
        resolve("seg", "epochs: [3\n")


def test_registry_register_rename_export_delete(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    models = tmp_path / "models"
    monkeypatch.setenv("VOLTA_MODELS_DIR", str(models))
    bundle = _fake_bundle(tmp_path / "run" / "bundle")
    first = register_bundle(bundle, "my seg model", source_run=str(tmp_path / "run"))
    second = register_bundle(bundle, "my seg model")
    assert first.name == "my-seg-model" and second.name == "my-seg-model-2"
    assert not list(models.glob(".incoming*"))
    assert json.loads((first / "registry.json").read_text())["source_run"] == str(tmp_path / "run")
    assert set(json.loads((first / "model_card.json").read_text())) == {"name", "heads"}  # card schema kept
    entries = [e for e in available_models() if e.origin == "user"]
    assert [e.name for e in entries] == ["my seg model", "my seg model"]
    renamed = rename_model(entries[0], "hippo v2")
    assert json.loads((renamed.path / "model_card.json").read_text())["name"] == "hippo v2"
    exported = export_model(renamed, tmp_path / "usb")
    assert (exported / "model.safetensors").read_bytes() == b"weights"
    delete_model(renamed)
    assert not renamed.path.exists() and len([e for e in available_models() if e.origin == "user"]) == 1
    bundled = ModelEntry("shipped", _fake_bundle(tmp_path / "shipped"), "bundled")
    with pytest.raises(RegistryError, match="bundled"):
        rename_model(bundled, "x")
    with pytest.raises(RegistryError, match="bundled"):
        delete_model(bundled)
    assert export_model(bundled, tmp_path / "usb").is_dir()  # exporting a bundled model is allowed
    with pytest.raises(RegistryError):
        register_bundle(tmp_path / "nothing", "x")


def test_training_state_imports_neither_qt_nor_torch() -> None:
    code = ("import sys, app.jobs.run_folder, app.jobs.registry, app.jobs.estimate, app.jobs.locations, app.state.job_config;"
            "bad = [m for m in ('torch', 'PyQt6', 'vtk') if m in sys.modules]; print(bad); sys.exit(bool(bad))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_prediction_without_a_segmentation_head_shows_no_volume() -> None:
    """A sex model's empty mask is not '0.000 mL': the rows say that nothing was measured."""
    from app.state.results import result_rows
    from app.state.segmentation import Segmentation
    from volta_core.contracts.prediction import ClassResult, ModelInfo, Prediction, QualityReport

    from app.state.display_grid import display_index
    from volta_core.io import Volume, canonical_ras

    shape, affine = (8, 8, 8), np.eye(4)
    display = canonical_ras(Volume(np.zeros(shape, np.float32), affine))
    seg = Segmentation("sex model", np.zeros(shape, np.uint8), affine,
                       display_index(Volume(np.zeros(shape, np.uint8), affine), display.affine, display.shape))
    seg.prediction = Prediction(
        labels=np.zeros(shape, np.uint8), probabilities=np.zeros((3, *shape), np.float16), affine=affine,
        volumes_ml={"left": 0.0, "right": 0.0, "total": 0.0}, icv_ml=1400.0, relative_volumes=None,
        asymmetry_index=None, classification={"sex": ClassResult("sex", True, 0.7, "M")},
        quality=QualityReport(0.8, True, 0.9, None, ()), model=ModelInfo("sex", "now", "v1", "/b"),
        device="CPU", segmented=False)
    measures = dict(result_rows(seg).measures)
    assert measures["Hippocampus volumes"] == "not measured: this model has no trained segmentation head"
    assert not any("mL" in text and "hippocampus" in key.lower() for key, text in measures.items())


def test_training_scans_follow_the_engines_split() -> None:
    """A lab set of a few corrected scans holds one out (from two scans on); the form sizes its batch
    and estimate with the same count the engine trains on."""
    from app.jobs.estimate import training_scans
    from volta_core.data.records import SampleRecord
    from volta_core.train.finetune import split_records

    for n, fraction in ((1, 0.2), (2, 0.2), (3, 0.2), (4, 0.25), (10, 0.2), (7, 0.0)):
        records = [SampleRecord(subject=f"sub-{i}", image=Path(f"{i}.nii")) for i in range(n)]
        train, _ = split_records(records, "seg", fraction, seed=0)
        assert training_scans(n, fraction) == len(train), (n, fraction)
