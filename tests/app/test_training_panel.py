"""The training panel with real training processes (tiny fine-tunes on a synthetic dataset):
launch, live curves, Stop, Resume, the registry, inference with the new model, a process killed
from outside, closing and reopening the window while a job runs, refused datasets and folders."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
from app_helpers import open_and_wait
from training_helpers import STEP_TIMEOUT_MS, fill_form, launch

from app.state.job_progress import format_duration
from volta_core.data.synthetic import write_synthetic_bids

pytestmark = pytest.mark.gui


@pytest.fixture(scope="module")
def seg_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four synthetic subjects with masks, 40^3 at 2.5 mm."""
    return write_synthetic_bids(tmp_path_factory.mktemp("train") / "bids", 4, shape=40, spacing=2.5)


@pytest.fixture
def plain_window(qtbot):
    """A shown main window without its VTK views (the training panel does not need them)."""
    from app.main_window import MainWindow
    from app.settings import open_settings

    win = MainWindow(open_settings())
    qtbot.addWidget(win)
    win.resize(1200, 800)
    win.show()
    qtbot.waitExposed(win)
    return win


def _events(job) -> list[dict]:
    path = job.run_dir / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]


def test_launch_stop_resume_then_register_and_predict(qtbot, window, training_dirs, seg_dataset) -> None:
    runs, models = training_dirs
    panel = window.training.show_panel()
    assert panel.isVisible() and window.training.panel_action.isChecked()
    fill_form(panel, seg_dataset, epochs=3)
    qtbot.waitUntil(lambda: "ready to train" in panel.form.report.toPlainText(), timeout=60_000)
    assert "4 scans, 4 subjects" in panel.form.report.toPlainText()
    assert "not known yet: measured once a run with this setup" in panel.form.estimate.text()
    job = launch(qtbot, panel)
    assert job.run_dir.parent == runs and panel.view.job is job

    # live curves: the first step appears, then Stop (checkpoint, then exit)
    qtbot.waitUntil(lambda: panel.view.curves.point_count() >= 1, timeout=STEP_TIMEOUT_MS)
    assert job.status == "running" and "loss" in panel.view.curves.series_names()[0]
    assert panel.view.stats["Throughput"].text().endswith("volumes/s")
    panel.view.stop_button.click()
    qtbot.waitUntil(lambda: job.status == "stopped", timeout=STEP_TIMEOUT_MS)
    stopped_at = job.progress.terminal["step"]
    assert job.checkpoint.is_file() and 1 <= stopped_at < job.progress.total_steps
    assert panel.view.resume_button.isEnabled() and not panel.view.stop_button.isEnabled()

    # Resume continues from the saved step, the curves grow, the run finishes
    panel.view.resume_button.click()
    qtbot.waitUntil(lambda: job.status == "finished", timeout=STEP_TIMEOUT_MS)
    events = _events(job)
    started = [e for e in events if e["event"] == "started"]
    assert len(started) == 2 and started[1]["resumed"] and started[1]["step"] == stopped_at
    after = [e["step"] for e in events[events.index(started[1]):] if e["event"] == "step"]
    assert after[0] == stopped_at + 1 and after[-1] == job.progress.total_steps
    assert panel.view.curves.point_count() == job.progress.total_steps
    assert panel.view.curves.series_names()[1]  # validation metrics were plotted
    panel.form.update_estimate()  # the next estimate uses this run's measured epoch time
    assert f"measured on {job.name}" in panel.form.estimate.text()
    seconds, how = job.progress.epoch_seconds()  # from the epoch events, not "0 s"
    assert how == "measured" and seconds > 0
    assert panel.view.stats["Time per epoch"].text() == format_duration(seconds)

    # the finished model is in the registry and the model selector
    qtbot.waitUntil(lambda: bool(job.info.get("model")), timeout=10_000)
    model = Path(job.info["model"])
    assert model.parent == models and (model / "model.safetensors").is_file()
    assert json.loads((model / "model_card.json").read_text())["name"] == job.name
    assert window.inference.selector.findData(str(model)) >= 0
    registry = window.training.show_registry()
    assert registry.select_path(model)
    registry.use_selected()
    assert window.inference.selected_bundle() == model
    registry.close()

    # ... and runs inference on a scan
    scan = next((seg_dataset / "sub-001" / "anat").glob("*T1w.nii.gz"))
    open_and_wait(qtbot, window, scan)
    outcome: list = []
    window.inference.prediction_added.connect(outcome.append)
    window.inference.run_failed.connect(outcome.append)
    window.inference.run_action.trigger()
    qtbot.waitUntil(lambda: bool(outcome), timeout=120_000)
    seg = outcome[0]
    assert not isinstance(seg, BaseException), seg
    assert Path(seg.source) == model and seg.labels.shape == (40, 40, 40)


def test_process_killed_from_outside_is_reported_failed(qtbot, plain_window, training_dirs, seg_dataset,
                                                        head_path) -> None:
    window = plain_window
    panel = window.training.show_panel()
    fill_form(panel, seg_dataset, epochs=200)
    job = launch(qtbot, panel)
    qtbot.waitUntil(lambda: job.status == "running", timeout=STEP_TIMEOUT_MS)
    os.kill(job.pid, signal.SIGKILL)
    qtbot.waitUntil(lambda: job.status == "failed", timeout=15_000)
    assert panel.view.error_label.isVisible()
    assert "ended without reporting" in panel.view.error_label.text()
    assert "[failed]" in panel.item_texts()[0]
    assert panel.view.resume_button.isEnabled() and not panel.view.kill_button.isEnabled()
    # the GUI is alive and usable
    open_and_wait(qtbot, window, head_path)
    panel.tabs.setCurrentIndex(0)
    assert panel.form.launch_button.isEnabled()
    # Resume restarts it; Kill from the panel ends it at once, also reported as failed
    panel.view.resume_button.click()
    qtbot.waitUntil(lambda: job.status == "running", timeout=STEP_TIMEOUT_MS)
    assert not panel.view.error_label.isVisible()
    panel.view.kill_button.click()
    qtbot.waitUntil(lambda: job.status == "failed", timeout=15_000)
    assert "Killed from the training panel" in panel.view.error_label.text()


def test_reopened_window_reattaches_to_a_running_job(qtbot, training_dirs, seg_dataset) -> None:
    from app.main_window import MainWindow
    from app.settings import open_settings

    first = MainWindow(open_settings())
    first.show()
    panel = first.training.show_panel()
    fill_form(panel, seg_dataset, epochs=200)
    job = launch(qtbot, panel)
    qtbot.waitUntil(lambda: job.progress.step >= 1, timeout=STEP_TIMEOUT_MS)
    first.close()
    first.deleteLater()
    qtbot.wait(700)
    assert job.pid and os.path.exists(f"/proc/{job.pid}")  # the job outlives the window

    second = MainWindow(open_settings())
    qtbot.addWidget(second)
    second.show()
    qtbot.waitUntil(lambda: second.training.panel is not None and second.training.panel.isVisible(),
                    timeout=5000)  # the dock was open when the window closed
    panel = second.training.panel
    again = panel.manager.job(job.id)
    assert again is not None and again.status == "running" and again.progress.step >= 1
    assert panel.view.job is again and panel.view.curves.point_count() >= 1
    assert "[running]" in panel.item_texts()[0] and "step" in panel.item_texts()[0]
    seen = again.progress.step
    qtbot.waitUntil(lambda: again.progress.step > seen, timeout=STEP_TIMEOUT_MS)  # still followed live
    panel.view.stop_button.click()
    qtbot.waitUntil(lambda: again.status == "stopped", timeout=STEP_TIMEOUT_MS)


def test_invalid_dataset_is_refused_with_every_problem(qtbot, plain_window, training_dirs, tmp_path) -> None:
    runs, _ = training_dirs
    bids = write_synthetic_bids(tmp_path / "bad", 3, shape=24, spacing=5.0)
    next((bids / "derivatives").rglob("sub-001_*mask*")).unlink()
    next((bids / "sub-002" / "anat").glob("*T1w.nii.gz")).write_bytes(b"not a nifti")
    panel = plain_window.training.show_panel()
    fill_form(panel, bids, epochs=2)
    with qtbot.waitSignal(panel.refused, timeout=60_000) as blocker:
        panel.form.launch_button.click()
    message = blocker.args[0]
    assert "missing_mask: sub-001" in message and "unreadable_file: sub-002" in message
    report = panel.form.report.toPlainText()
    assert "missing_mask" in report and "unreadable_file" in report and "problem(s)" in report
    assert not list(runs.glob("*/job.json"))  # nothing was launched


def test_unwritable_runs_folder_is_refused_before_launch(qtbot, plain_window, training_dirs, seg_dataset,
                                                         tmp_path, monkeypatch) -> None:
    blocker_file = tmp_path / "not-a-folder"
    blocker_file.write_text("x")
    monkeypatch.setenv("VOLTA_RUNS_DIR", str(blocker_file / "runs"))
    panel = plain_window.training.show_panel()
    fill_form(panel, seg_dataset, epochs=2)
    with qtbot.waitSignal(panel.refused, timeout=60_000) as blocker:
        panel.form.launch_button.click()
    assert "cannot be written" in blocker.args[0]


def test_registry_dialog_renames_exports_and_deletes(qtbot, plain_window, training_dirs, tmp_path) -> None:
    _, models = training_dirs
    bundle = models / "hippo"
    bundle.mkdir(parents=True)
    (bundle / "model_card.json").write_text(json.dumps({"name": "hippo", "heads": {"segmentation": {"trained": True}}}))
    (bundle / "model.safetensors").write_bytes(b"w")
    window = plain_window
    window.inference.refresh_models()
    window.results_panel.registry_button.click()  # the registry opens from the results panel
    dialog = window.training.registry
    assert dialog is not None and dialog.isVisible()
    assert dialog.select_path(bundle)
    assert dialog.buttons["rename"].isEnabled() and dialog.buttons["delete"].isEnabled()
    dialog.rename_selected("hippo renamed")
    assert "hippo renamed (user)" in [window.inference.selector.itemText(i)
                                      for i in range(window.inference.selector.count())]
    exported = dialog.export_selected(tmp_path / "export")
    assert exported is not None and (exported / "model.safetensors").is_file()
    dialog.use_selected()
    assert window.inference.selected_bundle() == bundle
    dialog.delete_selected(confirm=False)
    assert not bundle.exists() and window.inference.selector.findData(str(bundle)) < 0


def test_training_panel_and_dataset_check_do_not_load_torch(seg_dataset, training_dirs, tmp_path) -> None:
    """The GUI process never imports torch for training: opening the panel and checking a dataset
    stays torch-free (training itself runs in its own process)."""
    import subprocess
    import sys

    script = f"""
import sys
from app.startup import create_main_window
app, window = create_main_window()
window.show()
panel = window.training.show_panel()
panel.form.set_dataset({str(seg_dataset)!r})
for _ in range(600):
    app.processEvents()
    if panel.form.validator.result is not None:
        break
    import time; time.sleep(0.05)
print(panel.form.validator.result.ok, "torch" in sys.modules)
window.close()
"""
    env = {**os.environ, "VOLTA_STUDIO_SETTINGS": str(tmp_path / "s.ini")}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env, check=False)
    assert result.stdout.split()[-2:] == ["True", "False"], result.stdout + result.stderr


def test_jobs_queue_one_at_a_time(qtbot, training_dirs, monkeypatch) -> None:
    """A second job waits while the first runs and starts when it ends; Stop on a queued job
    takes it out of the queue. (Launching is replaced by a sleeping process: only the queue is tested.)"""
    import subprocess
    import sys
    import time

    from app.jobs.launch import JobSpec
    from app.jobs.processes import start_token
    from app.training.job_manager import JobManager

    children: list[subprocess.Popen] = []

    def fake_launch(self, job) -> None:
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        children.append(child)
        job.mark_launched(["sleep"], child.pid, start_token(child.pid), time.time())

    monkeypatch.setattr(JobManager, "_launch", fake_launch)
    manager = JobManager(poll_ms=100)
    try:
        first = manager.submit(JobSpec(task="seg", data_path="/d"), "epochs: 1\n")
        second = manager.submit(JobSpec(task="seg", data_path="/d"), "epochs: 1\n")
        third = manager.submit(JobSpec(task="seg", data_path="/d"), "epochs: 1\n")
        assert first.status == "starting" and second.status == "queued" and third.status == "queued"
        manager.stop(third)
        assert third.status == "cancelled"
        children[0].kill()
        children[0].wait()
        qtbot.waitUntil(lambda: first.status == "failed" and second.status == "starting", timeout=5000)
        assert len(children) == 2 and third.status == "cancelled"
        manager.resume(third)  # back in the queue, behind the running job
        assert third.status == "queued"
    finally:
        manager.shutdown()
        for child in children:
            child.kill()
            child.wait()


TINY_PRETRAIN = ("data.size=32 'model.overrides={patch_size: 8, embed_dim: 32, depth: 2, num_heads: 2, "
                 "out_indices: [1, 2]}' 'ssl.model_kwargs={head_out_dim: 64, head_hidden_dim: 64, "
                 "head_bottleneck_dim: 32}' synthetic_subjects=2 optim.warmup_steps=2 "
                 "ssl.teacher_temp_warmup_steps=2 checkpoint_every=1000")


def test_pretraining_job_becomes_a_starting_model(qtbot, plain_window, training_dirs) -> None:
    panel = plain_window.training.show_panel()
    form = panel.form
    form.set_task("pretrain")
    assert form.epochs_label.text() == "Steps:"
    form.init.setCurrentIndex(0)  # from random weights (the bundled model is the default start)
    form.epochs.setValue(4)
    form.batch_size.setValue(2)
    form.device.setCurrentIndex(form.device.findData("cpu"))
    form.threads.setValue(1)
    form.overrides.setText(TINY_PRETRAIN)  # no dataset: synthetic toy heads
    job = launch(qtbot, panel)
    qtbot.waitUntil(lambda: job.status == "finished", timeout=STEP_TIMEOUT_MS)
    losses, _ = panel.view.curves.series_names()
    assert "loss" in losses and len(losses) > 1  # every loss term of the objective is drawn
    assert not job.info.get("model")  # an encoder without trained heads is not a model to run...
    form.set_task("seg")
    assert form.init.findData(str(job.run_dir)) > 0  # ...but a starting point for fine-tuning


def test_an_error_in_the_training_process_shows_failed_with_the_error(qtbot, plain_window, training_dirs,
                                                                     seg_dataset) -> None:
    panel = plain_window.training.show_panel()
    fill_form(panel, seg_dataset, epochs=2)
    panel.form.overrides.setText("data.size=30")  # valid config, but not a multiple of the patch size
    job = launch(qtbot, panel)
    qtbot.waitUntil(lambda: job.status == "failed", timeout=STEP_TIMEOUT_MS)
    assert "30" in job.error and panel.view.error_label.text() == job.error
    assert panel.view.resume_button.isEnabled() and plain_window.isVisible()


def test_a_collapsed_teacher_is_shown_as_a_warning(qtbot, plain_window, training_dirs) -> None:
    panel = plain_window.training.show_panel()
    form = panel.form
    form.set_task("pretrain")
    form.init.setCurrentIndex(0)
    form.epochs.setValue(4)
    form.batch_size.setValue(2)
    form.device.setCurrentIndex(form.device.findData("cpu"))
    form.threads.setValue(1)
    # a teacher temperature of 100 makes the teacher uniform: the collapse a too-high lr causes
    form.overrides.setText(f"{TINY_PRETRAIN} ssl.teacher_temp_start=100 ssl.teacher_temp_end=100 "
                           "ssl.collapse_patience=2")
    job = launch(qtbot, panel)
    qtbot.waitUntil(lambda: job.status == "finished", timeout=STEP_TIMEOUT_MS)
    panel.view.refresh()
    assert panel.view.warning_label.isVisible()
    assert "teacher collapsed at step 2" in panel.view.warning_label.text()
    assert not panel.view.error_label.isVisible()  # a warning, not a failure: the run went on
