"""Graceful stop requests: SIGTERM / SIGINT or a ``STOP`` file in the run folder."""

from __future__ import annotations

import signal
from pathlib import Path
from types import FrameType


class StopRequest:
    """Install signal handlers that only set a flag; the loop checks :meth:`reason` each step.

    Use as a context manager so the previous handlers come back afterwards.
    """

    def __init__(self, run_dir: str | Path) -> None:
        self.stop_file = Path(run_dir) / "STOP"
        self._signal: int | None = None
        self._previous: dict[int, object] = {}

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        self._signal = signum

    def __enter__(self) -> StopRequest:
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                self._previous[sig] = signal.signal(sig, self._handler)
            except ValueError:  # not the main thread: rely on the STOP file
                pass
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]

    def reason(self) -> str | None:
        """``"signal"``, ``"stop-file"`` or ``None``."""
        if self._signal is not None:
            return "signal"
        if self.stop_file.exists():
            return "stop-file"
        return None
