"""The most-recently-opened list (persisted by the main window, kept Qt-free here)."""

from __future__ import annotations

from pathlib import Path

from app.state.signal import Signal


class RecentFiles:
    """Most recent first, no duplicates, at most ``limit`` entries."""

    def __init__(self, paths: list[str] | None = None, limit: int = 10) -> None:
        self.limit = limit
        self._paths: list[str] = []
        self.changed = Signal()
        for path in reversed(paths or []):
            self._push(str(path))

    @property
    def paths(self) -> list[str]:
        return list(self._paths)

    def add(self, path: str | Path) -> None:
        """Put ``path`` (made absolute) at the top of the list."""
        self._push(str(Path(path).expanduser().absolute()))
        self.changed.emit(self.paths)

    def remove(self, path: str | Path) -> None:
        """Drop ``path`` (e.g. a file that no longer exists) from the list."""
        path = str(Path(path).expanduser().absolute())
        if path in self._paths:
            self._paths.remove(path)
            self.changed.emit(self.paths)

    def clear(self) -> None:
        self._paths.clear()
        self.changed.emit(self.paths)

    def _push(self, path: str) -> None:
        if path in self._paths:
            self._paths.remove(path)
        self._paths.insert(0, path)
        del self._paths[self.limit:]
