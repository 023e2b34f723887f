"""Graceful stop requests: SIGTERM / SIGINT or a ``STOP`` file in the run folder.

Two phases: while a run sets up (imports, dataset checks, model building) there is nothing to
save, so a signal raises :class:`StopRequested` at once (:func:`stop_on_signal`) and the run ends
with a ``stopped`` event; once the loop runs, :class:`StopRequest` only sets a flag and the loop
saves a checkpoint before it stops.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StopRequested(BaseException):
    """SIGTERM/SIGINT arrived while the run was setting up (a BaseException, like
    KeyboardInterrupt, so that no ``except Exception`` in set-up code swallows it).

    Attributes:
        signum: the signal.
        reported: True once a ``stopped`` event was emitted for it.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(f"stopped by signal {signum}")
        self.signum = signum
        self.reported = False


@contextlib.contextmanager
def stop_on_signal() -> Iterator[None]:
    """SIGTERM/SIGINT raise :class:`StopRequested` inside the block (main thread only)."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise StopRequested(signum)

    previous: dict[int, object] = {}
    for sig in SIGNALS:
        try:
            previous[sig] = signal.signal(sig, handler)
        except ValueError:  # not the main thread
            pass
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)  # type: ignore[arg-type]


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
        for sig in SIGNALS:
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
