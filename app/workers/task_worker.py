"""A QThread that runs one plain function (no Qt, no VTK inside) and reports its result or error."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PyQt6.QtCore import QThread, pyqtSignal


class TaskWorker(QThread):
    """``done(result)`` or ``failed(exception)``, exactly once."""

    done = pyqtSignal(object)
    failed = pyqtSignal(object)

    def __init__(self, function: Callable[[], Any]) -> None:
        super().__init__()
        self._function = function

    def run(self) -> None:  # runs in the worker thread
        try:
            result = self._function()
        except BaseException as exc:
            self.failed.emit(exc)
            return
        self.done.emit(result)
