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
