"""Dataset files in the encodings and separators people hand us (issue 15, item 22), through `volta finetune`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
TINY = ["device=cpu", "threads=1", "data.size=32", "data.spacing=5.0", "min_per_class=1", "steps=1"]


def _finetune(data: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "volta_core.cli", "finetune", "--task", "sex", "--data", str(data),
                           "--out", str(out), *TINY], capture_output=True, text=True, env=ENV, timeout=300)


def test_non_utf8_participants_tsv_is_named(make_bids, tmp_path: Path):
    root = make_bids({"sub-01": ("M", "CN", None), "sub-02": ("F", "AD", None)})
    (root / "participants.tsv").write_bytes("participant_id\tsex\tdiagnosis\nsub-01\tM\tCN\nsub-02\tF\tAD é\n"
                                            .encode("latin-1"))
    proc = _finetune(root, tmp_path / "run")
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "participants.tsv" in proc.stderr and "UTF-8" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_tsv_manifest_is_read_as_tab_separated(tmp_path: Path):
    from data_helpers import save_nifti

    save_nifti(tmp_path / "a.nii.gz", np.zeros((8, 8, 8), dtype=np.float32))
    manifest = tmp_path / "cohort.tsv"
    manifest.write_text("subject\timage\tmask\tsex\tdiagnosis\n"
                        "sub-a\ta.nii.gz\t\tM\tCN\nsub-b\tmissing.nii.gz\t\tF\tAD\n")
    proc = _finetune(manifest, tmp_path / "run")
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "needs the columns" not in proc.stderr       # the old CSV parse saw one column "subject\timage..."
    assert "missing_file" in proc.stderr and "missing.nii.gz" in proc.stderr
    assert "Traceback" not in proc.stderr
