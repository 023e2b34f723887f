"""Fixtures for the app tests: isolated settings, a shown main window with its views, scans on disk."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("QT_API", "pyqt6")
sys.path.insert(0, str(Path(__file__).parent))

from app_phantom import write_head  # noqa: E402


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own settings file: nothing touches the user's real settings."""
    path = tmp_path / "settings" / "studio.ini"
    path.parent.mkdir()
    monkeypatch.setenv("VOLTA_STUDIO_SETTINGS", str(path))
    return path


@pytest.fixture(autouse=True)
def isolated_autosave(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Autosaves go to the test's folder, and the blocking prompts about unsaved corrections answer
    "discard" / "ask later" unless a test patches them itself (a window with painted edits is
    closed at teardown, which would otherwise wait for a click)."""
    from app import dialogs

    folder = tmp_path / "autosave"
    monkeypatch.setenv("VOLTA_AUTOSAVE_DIR", str(folder))
    monkeypatch.setattr(dialogs, "ask_unsaved_edits", lambda *_a, **_k: dialogs.DISCARD)
    monkeypatch.setattr(dialogs, "ask_restore_autosave", lambda *_a, **_k: dialogs.LATER)

    def unexpected_side_question(*_a, **_k):  # a blocking dialog would hang the test instead
        raise AssertionError("a single-label mask asked for its side: patch app.dialogs.ask_mask_side")

    monkeypatch.setattr(dialogs, "ask_mask_side", unexpected_side_question)
    return folder


@pytest.fixture
def head_path(tmp_path: Path) -> Path:
    """A small synthetic head (48x56x48, 4 mm, LIA storage) written as MGZ."""
    return write_head(tmp_path / "head.mgz", codes="LIA", shape=(48, 56, 48), spacing=4.0)


@pytest.fixture
def window(qtbot) -> Iterator[object]:
    """A shown main window with its VTK views built (closed, and its views released, at teardown)."""
    from PyQt6.QtWidgets import QApplication

    from app.main_window import MainWindow
    from app.settings import open_settings
    from app.theme import apply_dark_theme

    apply_dark_theme(QApplication.instance())
    win = MainWindow(open_settings())
    qtbot.addWidget(win)  # closes the window at teardown -> closeEvent releases the views
    win.resize(1100, 760)
    win.show()
    qtbot.waitExposed(win)
    win.create_views()
    qtbot.wait(50)
    yield win


@pytest.fixture(scope="session")
def tiny_bundle(trained_segmenter_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's trained tiny segmenter (tests/conftest.py), alone in a model folder of its own."""
    import shutil

    models = tmp_path_factory.mktemp("models")
    return Path(shutil.copytree(trained_segmenter_bundle, models / "tiny-template-segmenter"))


@pytest.fixture
def models_dir(tiny_bundle: Path, monkeypatch: pytest.MonkeyPatch, no_bundled_models: None) -> Path:
    """The user's model folder holds the tiny bundle, and it is the only model (fast, known results)."""
    monkeypatch.setenv("VOLTA_MODELS_DIR", str(tiny_bundle.parent))
    return tiny_bundle.parent


@pytest.fixture
def no_bundled_models(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Hide the shipped model (resources/models) from the model selector."""
    from app.state import model_catalog

    empty = tmp_path_factory.mktemp("no-bundled-models")
    monkeypatch.setattr(model_catalog, "bundled_models_dir", lambda: empty)


@pytest.fixture
def sample_window(qtbot, models_dir: Path, window):  # noqa: ANN001, ANN201
    """The main window with the sample scan (fsaverage, 256^3 LIA) open and the tiny model selected."""
    from app_helpers import open_and_wait
    from volta_core.io import sample_scan_path

    window.resize(1400, 900)
    window.inference.refresh_models()
    open_and_wait(qtbot, window, sample_scan_path(), timeout=60_000)
    return window


@pytest.fixture
def shipped_window(qtbot, window, tmp_path, monkeypatch):  # noqa: ANN001, ANN201
    """The window with the sample scan open and the shipped model (a real adult-sized T1 and the real
    model: a few seconds a run, no training) as the only model."""
    from app_helpers import open_and_wait
    from volta_core.io import sample_scan_path

    monkeypatch.setenv("VOLTA_MODELS_DIR", str(tmp_path / "no-user-models"))
    window.inference.refresh_models()
    assert window.inference.selected_bundle().name == "volta3d-hippocampus"
    open_and_wait(qtbot, window, sample_scan_path(), timeout=60_000)
    return window


@pytest.fixture
def training_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Runs and models in temporary folders; every training process is ended at teardown."""
    from training_helpers import kill_leftover_jobs

    runs, models = tmp_path / "runs", tmp_path / "models"
    monkeypatch.setenv("VOLTA_RUNS_DIR", str(runs))
    monkeypatch.setenv("VOLTA_MODELS_DIR", str(models))
    yield runs, models
    kill_leftover_jobs(runs)
