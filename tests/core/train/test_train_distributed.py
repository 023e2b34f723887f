from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from train_helpers import PRETRAIN
from volta_core.train.events import parse_lines, read_events


def test_torchrun_two_gloo_ranks_end_identical(tmp_path):
    run = tmp_path / "run"
    torchrun = Path(sys.executable).with_name("torchrun")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    args = [str(torchrun), "--standalone", "--nproc_per_node", "2", "-m", "volta_core.cli", "pretrain",
            "--out", str(run), *PRETRAIN, "steps=3", "checkpoint_every=2"]
    proc = subprocess.run(args, capture_output=True, text=True, env=env, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    hashes = [(run / f"rank{r}_weights.sha256").read_text().strip() for r in (0, 1)]
    assert len(hashes[0]) == 64 and hashes[0] == hashes[1]
    assert [p.name for p in (run / "checkpoints").iterdir()] == ["last.pt"]
    events = read_events(run / "metrics.jsonl")
    assert [e["event"] for e in events].count("started") == 1  # rank 0 only
    assert events[0]["world_size"] == 2
    assert [e["step"] for e in events if e["event"] == "checkpoint"] == [2, 3]
    assert parse_lines(proc.stdout)[-1]["event"] == "finished"
