"""Helpers for the training-panel tests: a tiny config, filling the form, cleaning up processes."""

from __future__ import annotations

import json
from pathlib import Path

from app.jobs.processes import kill_process, process_alive

#: A fine-tune that takes about a second per step on one busy CPU thread: 32^3 inputs, patch 8,
#: embed 32, depth 2, an 8-channel UNETR decoder; one of four subjects is held out for validation.
TINY_SEG_YAML = """\
task: seg
data:
  spacing: 2.5
  size: 32
  normalisation: percentile
model:
  encoder: vit3d_tiny
  overrides: {patch_size: 8, embed_dim: 32, depth: 2, num_heads: 2, out_indices: [1, 2, 2]}
optim:
  lr: 0.005
  min_lr: 0.001
  warmup_steps: 2
  weight_decay: 0.01
  weight_decay_end: 0.01
mode: full
layer_decay: 1.0
seg_feature_size: 8
batch_size: 1
epochs: 2
val_fraction: 0.25
augment: false
min_per_class: 1
checkpoint_every: 1000
"""

#: Generous: the machine may be busy with other training.
STEP_TIMEOUT_MS = 240_000


def fill_form(panel, dataset: Path, epochs: int) -> None:
    """Tiny seg fine-tune from random weights on ``dataset``, CPU, one thread."""
    form = panel.form
    form.set_task("seg")
    form.init.setCurrentIndex(0)  # not the bundled model (the form's default): its vit3d_small is slower
    form.set_config_text(TINY_SEG_YAML)
    form.epochs.setValue(epochs)
    form.device.setCurrentIndex(form.device.findData("cpu"))
    form.threads.setValue(1)
    form.set_dataset(dataset)


def launch(qtbot, panel):
    """Press Launch and return the queued/started job."""
    with qtbot.waitSignal(panel.launched, timeout=120_000) as blocker:
        panel.form.launch_button.click()
    return blocker.args[0]


def kill_leftover_jobs(runs_dir: Path) -> None:
    """End every training process a test started (they are detached: nobody else will)."""
    if not runs_dir.is_dir():
        return
    for info_file in runs_dir.glob("*/job.json"):
        try:
            info = json.loads(info_file.read_text())
        except (OSError, ValueError):
            continue
        pid = info.get("pid")
        if pid and process_alive(int(pid), info.get("pid_token")):
            kill_process(int(pid))
