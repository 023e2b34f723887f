"""build_model.py's few-shot runs are claimed per process, so two processes can share the work."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from scripts.build_model import _claim  # noqa: E402


def test_a_run_is_taken_once_and_a_dead_holder_releases_it(tmp_path):
    run = tmp_path / "pretrained-n1-s0"
    assert _claim(run) and _claim(run)  # this process holds it (and may ask again)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (run / ".claimed").write_text(str(other.pid))
        assert not _claim(run)  # a live process holds it
    finally:
        other.kill()
        other.wait()
    assert _claim(run)  # its holder is gone: taken over
    assert int((run / ".claimed").read_text()) == os.getpid()
    (tmp_path / "torn" ).mkdir()
    (tmp_path / "torn" / ".claimed").write_text("")
    assert _claim(tmp_path / "torn")
