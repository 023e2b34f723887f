"""Writing and reading the progress events of training runs.

The protocol (event names and fields) is :mod:`volta_core.contracts.events`: a run prints ONE
JSON object per line on stdout and appends the same line to ``<run>/metrics.jsonl`` (rank 0
only); :class:`EventLog` writes it, :func:`read_events` reads a run's history back (each step
once, torn lines skipped).
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from volta_core.contracts.events import ENDINGS, EVENTS, METRICS_FILE


class EventWriteError(OSError):
    """``metrics.jsonl`` could not be written (e.g. the disk is full); nothing half-written stays."""


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no NaN/inf
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item") and callable(value.item):
        return _clean(value.item())
    return value


class EventLog:
    """Emit protocol events to stdout and ``metrics.jsonl`` (only when ``enabled``, i.e. rank 0).

    Args:
        run_dir: run folder (``metrics.jsonl`` is appended there).
        enabled: False on non-zero ranks: nothing is written.
        stream: where to print (default ``sys.stdout``); ``None`` disables printing.
    """

    def __init__(self, run_dir: str | Path, enabled: bool = True, stream: TextIO | None = sys.stdout,
                 to_file: bool = True) -> None:
        self.run_dir = Path(run_dir)
        self.enabled = enabled
        self.stream = stream
        self.to_file = to_file
        self.path = self.run_dir / METRICS_FILE
        self.ended: str | None = None  # the ending event once one was emitted
        self.step = 0  # optimizer steps the run had completed at its latest event
        self.started = False  # the "started" event (end of set-up) was emitted

    def emit(self, event: str, **fields: Any) -> dict[str, Any]:
        """Write one event; returns the object written.

        Raises:
            EventWriteError: ``metrics.jsonl`` could not be written (not raised for the ending
                events ``stopped``/``failed``: the run is ending anyway and stdout still has them).
        """
        if event not in EVENTS:
            raise ValueError(f"unknown event {event!r}; expected one of {EVENTS}")
        obj = {"event": event, "time": round(time.time(), 3), "run": str(self.run_dir), **_clean(fields)}
        self.started = self.started or event == "started"
        if event in ENDINGS:
            self.ended = event
        elif isinstance(obj.get("step"), int):
            self.step = obj["step"]
        if not self.enabled:
            return obj
        line = json.dumps(obj, separators=(",", ":"))
        error: EventWriteError | None = None
        if self.to_file:
            try:
                append_line(self.path, line)
            except OSError as exc:
                error = EventWriteError(f"cannot write {self.path}: {exc.strerror or exc}. "
                                        "Free disk space, then resume the run with --resume")
                error.errno = exc.errno
        if self.stream is not None:
            self.stream.write(line + "\n")
            self.stream.flush()
        if error is not None and event not in ("stopped", "failed"):
            raise error
        return obj


def append_line(path: Path, line: str) -> None:
    """Append ``line`` and a newline; on failure the file is cut back to its former length.

    A file that ends without a newline (a writer killed mid-line) first gets one, so the new
    line never glues onto the broken one (which readers then skip). Nothing is ever cut from
    what was there, so readers that follow the file by offset stay in step.
    """
    data = (line + "\n").encode("utf-8")
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            data = b"\n" + data
        written = 0
        try:
            while written < len(data):
                written += os.write(fd, data[written:])
        except OSError:
            os.ftruncate(fd, size)
            raise
    finally:
        os.close(fd)


def superseded_removed(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Drop events that a later ``started`` event supersedes (those past its step)."""
    out: list[dict[str, Any]] = []
    for event in events:
        step = event.get("step")
        if event.get("event") == "started" and isinstance(step, int):
            out = [e for e in out if not (isinstance(e.get("step"), int) and e["step"] > step)]
        out.append(event)
    return out


def _parse(raw: bytes | str) -> dict[str, Any] | None:
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
    text = text.strip()
    if not text.startswith("{"):
        return None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError:
        return None
    return obj if isinstance(obj, dict) else None


def read_events(path: str | Path) -> list[dict[str, Any]]:
    """The run's history from a ``metrics.jsonl`` file (or captured stdout): lines that are not
    whole JSON are skipped, and events a resume superseded are left out (each step once)."""
    return superseded_removed(parse_lines(Path(path).read_bytes().decode("utf-8", errors="replace")))


def parse_lines(text: str) -> list[dict[str, Any]]:
    """Parse captured stdout text into events (non-JSON and torn lines are ignored)."""
    return [e for e in map(_parse, text.splitlines()) if e is not None]
