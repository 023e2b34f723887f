"""``volta-studio --self-test`` on the source install: the real app in a real subprocess, and its checks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app import selftest

ROOT = Path(__file__).resolve().parents[2]


def _run(args: list[str], tmp_path: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, QT_API="pyqt6", OMP_NUM_THREADS="2",
               VOLTA_STUDIO_SETTINGS=str(tmp_path / "settings.ini"), VOLTA_MODELS_DIR=str(tmp_path / "no-models"))
    return subprocess.run([sys.executable, "-m", "app", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


@pytest.mark.gui
def test_self_test_passes_on_the_source_install(tiny_bundle: Path, tmp_path: Path) -> None:
    out = _run(["--self-test", "--model", str(tiny_bundle)], tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SELF-TEST PASSED" in out.stdout
    for check in ("sample scan fsaverage_T1.mgz loaded: 256x256x256", "left ", "right ", "exports read back",
                  "--volta-cli", "no network connection attempted"):
        assert check in out.stdout, out.stdout
    assert not (tmp_path / "no-models").exists()  # nothing written into the user's folders


def test_self_test_fails_clearly_without_a_model(tmp_path: Path) -> None:
    out = _run(["--self-test", "--model", str(tmp_path)], tmp_path, timeout=120)
    assert out.returncode == 1
    assert "SELF-TEST FAILED" in out.stderr and "not a model bundle" in out.stderr


def test_no_bundled_model_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from app.state import model_catalog

    monkeypatch.setattr(model_catalog, "bundled_models_dir", lambda: tmp_path / "models")
    with pytest.raises(selftest.SelfTestError, match="no model is bundled.*--model"):
        selftest.choose_bundle(None)
    (tmp_path / "models").mkdir()
    assert selftest.run_self_test(None) == 1


def test_the_first_bundled_model_is_chosen(tiny_bundle: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from app.state import model_catalog

    monkeypatch.setattr(model_catalog, "bundled_models_dir", lambda: tiny_bundle.parent)
    assert selftest.choose_bundle(None) == tiny_bundle
    assert selftest.choose_bundle(tiny_bundle) == tiny_bundle


def test_checks_reject_bad_results(tmp_path: Path) -> None:
    selftest.check_volumes({"left": 3.2, "right": 3.4}, 1.0, 8.0)
    for volumes in ({"left": 0.2, "right": 3.0}, {"left": 3.0, "right": 9.5}, {"left": 3.0}):
        with pytest.raises(selftest.SelfTestError, match="hippocampus volume"):
            selftest.check_volumes(volumes, 1.0, 8.0)
    not_pdf = tmp_path / "report.pdf"
    not_pdf.write_bytes(b"<html>not a pdf</html>")
    with pytest.raises(selftest.SelfTestError, match="not a complete PDF"):
        selftest.check_pdf_file(not_pdf)
    rows = tmp_path / "row.csv"
    rows.write_text("scan,status,hippocampus_left_ml,hippocampus_right_ml\ns,failed,,\n")
    with pytest.raises(selftest.SelfTestError, match="one 'ok' row"):
        selftest.check_csv_file(rows, {"left": 1.0, "right": 1.0})


def test_network_watch_flags_only_remote_addresses() -> None:
    seen = selftest._network_attempts
    before = len(seen)
    selftest._audit("socket.connect", (None, "/tmp/.X11-unix/X0"))
    selftest._audit("socket.connect", (None, ("127.0.0.1", 6000)))
    selftest._audit("socket.getaddrinfo", ("localhost", 80, 0, 0, 0))
    assert len(seen) == before
    selftest._audit("socket.connect", (None, ("93.184.216.34", 443)))
    selftest._audit("socket.getaddrinfo", ("example.org", 443, 0, 0, 0))
    assert len(seen) == before + 2
    del seen[before:]


def test_cli_command_runs_the_volta_command_line() -> None:
    command = selftest.cli_command()
    assert command[-1] == "--volta-cli"
    out = subprocess.run([*command, "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "finetune" in out.stdout
