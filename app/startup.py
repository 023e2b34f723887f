"""Helpers for the command-line modes: first-paint timing and ``--screenshot``."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PyQt6.QtCore import QEvent, QEventLoop, QObject, QTimer
from PyQt6.QtGui import QImage
from PyQt6.QtWidgets import QApplication, QMainWindow

if TYPE_CHECKING:
    from app.main_window import MainWindow

_SETTLE_MS = 400


def create_main_window() -> tuple[QApplication, MainWindow]:
    """The application (named, dark theme) and its main window, not yet shown.

    The one way the app, the benchmarks and the screenshot script start the GUI.
    """
    from app.main_window import MainWindow
    from app.settings import APPLICATION, ORGANIZATION, open_settings
    from app.theme import apply_dark_theme

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    apply_dark_theme(app)
    return app, MainWindow(open_settings())


def grab_window(window: QMainWindow) -> QImage:
    """The window as shown on screen, OpenGL views included (``QWidget.grab`` misses them)."""
    screen = window.screen()
    return screen.grabWindow(int(window.winId())).toImage() if screen else window.grab().toImage()


def wait_for(signal: Any, timeout_ms: int = 600_000) -> None:
    """Run the event loop until ``signal`` fires (or ``timeout_ms`` passes): scripts that drive the
    window (screenshots) wait for a scan to load or a prediction to finish this way."""
    loop = QEventLoop()
    signal.connect(loop.quit)
    QTimer.singleShot(timeout_ms, loop.quit)
    loop.exec()


class FirstPaintWatcher(QObject):
    """Calls ``callback`` once, when ``window`` is first painted."""

    def __init__(self, window: QMainWindow, callback: Callable[[], None]) -> None:
        super().__init__(window)
        self._callback: Callable[[], None] | None = callback
        window.installEventFilter(self)

    def eventFilter(self, watched: QObject | None, event: QEvent | None) -> bool:  # noqa: N802
        if event is not None and event.type() == QEvent.Type.Paint and self._callback is not None:
            callback, self._callback = self._callback, None
            QTimer.singleShot(0, callback)  # after this paint has been flushed
        return False


class ScreenshotTaker(QObject):
    """Saves a PNG of the window once the scan is shown (or failed), then calls ``on_done(code)``."""

    def __init__(self, window: QMainWindow, path: Path, expect_scan: bool,
                 on_done: Callable[[int], None]) -> None:
        super().__init__(window)
        self._window, self._path, self._on_done = window, path, on_done
        self._code = 0
        if expect_scan:
            window.scan_loaded.connect(lambda _layer: self._later(0))  # type: ignore[attr-defined]
            window.load_failed.connect(lambda _error: self._later(1))  # type: ignore[attr-defined]
        else:
            self._later(0)

    def _later(self, code: int) -> None:
        self._code = code
        QTimer.singleShot(_SETTLE_MS, self._save)

    def _save(self) -> None:
        window = self._window
        if getattr(window, "view_grid", None) is None:  # views still being built
            QTimer.singleShot(100, self._save)
            return
        window.view_grid.reset_views()  # type: ignore[attr-defined]
        self._path.parent.mkdir(parents=True, exist_ok=True)
        ok = grab_window(window).save(str(self._path), "PNG")
        print(f"screenshot saved to {self._path}" if ok else f"could not save {self._path}", flush=True)
        self._on_done(self._code if ok else 2)
