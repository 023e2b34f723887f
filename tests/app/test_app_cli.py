"""The ``volta-studio`` command in a real subprocess: start-up timing mode and ``--screenshot``."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from app_phantom import write_head
from PyQt6.QtGui import QImage

pytestmark = pytest.mark.gui

ROOT = Path(__file__).resolve().parents[2]


def _run(args: list[str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "QT_API": "pyqt6"}
    return subprocess.run([sys.executable, "-m", "app", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_first_paint_comes_quickly_and_without_torch_or_vtk() -> None:
    code = ("import sys, runpy; sys.argv = ['volta-studio', '--benchmark-startup'];"
            "import app.__main__ as m; rc = m.main();"
            "heavy = [x for x in ('torch', 'vtkmodules', 'pyvista', 'nibabel') if x in sys.modules];"
            "print('HEAVY', heavy); sys.exit(rc)")
    start = time.time()
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                            timeout=120, env={**os.environ, "QT_API": "pyqt6"})
    assert result.returncode == 0, result.stderr
    marks = [line for line in result.stdout.splitlines() if line.startswith("VOLTA_STARTUP_PAINTED")]
    assert len(marks) == 1, result.stdout
    seconds = float(marks[0].split()[1]) - start
    assert 0.0 < seconds < 4.0, f"first paint after {seconds:.2f} s"  # budget 2 s; slack for a busy CI
    assert "HEAVY []" in result.stdout, result.stdout


def test_screenshot_mode_opens_the_scan_and_writes_a_png(tmp_path) -> None:
    scan = write_head(tmp_path / "head.nii.gz", "LAS", (40, 48, 40), 4.0)
    out = tmp_path / "shot.png"
    result = _run([str(scan), "--screenshot", str(out)])
    assert result.returncode == 0, result.stdout + result.stderr
    image = QImage(str(out))
    assert image.width() >= 800 and image.height() >= 500


def test_screenshot_mode_reports_an_unreadable_scan(tmp_path) -> None:
    scan = tmp_path / "bad.mgz"
    scan.write_text("nope")
    out = tmp_path / "shot.png"
    result = _run([str(scan), "--screenshot", str(out)])
    assert result.returncode == 1
    assert out.is_file()  # the window (with its error box) is still captured
