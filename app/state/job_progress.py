"""Follow a run's ``metrics.jsonl`` (the progress-event protocol of ``volta_core/train/events.py``)
and fold its events into what the training panel shows: curves, step, throughput, ETA, outcome."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TERMINAL_EVENTS = ("finished", "stopped", "failed")
#: Fields of ``eval`` events that are not metrics.
_EVAL_META = {"event", "time", "run", "step", "epoch", "split"}


class MetricsTail:
    """Reads the lines appended to a JSON-lines file since the last call (no thread, no watcher).

    A line still being written (no newline yet) is kept for the next call; lines that are not
    JSON objects are skipped, as the protocol asks.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._offset = 0
        self._partial = b""

    def read_new(self) -> list[dict[str, Any]]:
        """Events appended since the previous call (all of them on the first call)."""
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self._offset)
                data = handle.read()
        except OSError:
            return []
        self._offset += len(data)
        data = self._partial + data
        lines = data.split(b"\n")
        self._partial = lines.pop()  # b"" after a complete last line
        events = []
        for raw in lines:
            if not raw.startswith(b"{"):
                continue
            try:
                obj = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                continue
            if isinstance(obj, dict) and "event" in obj:
                events.append(obj)
        return events


@dataclass
class JobProgress:
    """Everything the panel plots and prints about one run, from its events.

    Attributes:
        losses: loss term -> ``[(step, value)]`` (``loss``, ``loss_global``, ...).
        metrics: validation metric -> ``[(step, value)]`` (``dice``, ``auroc``, ...).
        step, total_steps, epoch: where the run is.
        volumes_per_s, eta_s, step_s: throughput and time left as the run last reported them.
        terminal: the last ``finished`` / ``stopped`` / ``failed`` event (None while running).
        last_time: ``time`` of the newest event.
        checkpoint_step: step of the newest checkpoint.
        warnings: messages of ``warning`` events (e.g. a collapsed teacher), oldest first.
    """

    losses: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    metrics: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    step: int = 0
    total_steps: int = 0
    epoch: int = 0
    volumes_per_s: float | None = None
    eta_s: float | None = None
    step_s: list[float] = field(default_factory=list)
    device: str = ""
    started: dict[str, Any] | None = None
    terminal: dict[str, Any] | None = None
    last_time: float = 0.0
    checkpoint_step: int | None = None
    warnings: list[str] = field(default_factory=list)
    n_events: int = 0

    def feed(self, event: dict[str, Any]) -> None:
        """Fold one event in."""
        kind = event.get("event")
        self.n_events += 1
        self.last_time = max(self.last_time, _number(event.get("time")) or 0.0)
        step = int(event.get("step", self.step) or 0)
        if kind == "started":
            self.started, self.terminal = event, None
            self.total_steps = int(event.get("total_steps", 0) or 0)
            self.device = str(event.get("device", ""))
            self.step = step
            self._truncate(step)  # a resumed run repeats the steps after its checkpoint
        elif kind == "step":
            self.step = step
            self.epoch = int(event.get("epoch", self.epoch) or 0)
            for key, value in event.items():
                number = _number(value)
                if key.startswith("loss") and number is not None:
                    self.losses.setdefault(key, []).append((step, number))
            self.volumes_per_s = _number(event.get("volumes_per_s"))
            self.eta_s = _number(event.get("eta_s"))
            step_s = _number(event.get("step_s"))
            if step_s is not None:
                self.step_s = (self.step_s + [step_s])[-50:]
        elif kind == "eval":
            for key, value in event.items():
                number = _number(value)
                if key not in _EVAL_META and number is not None:
                    self.metrics.setdefault(key, []).append((step, number))
        elif kind == "checkpoint":
            self.checkpoint_step = step
        elif kind == "warning":
            message = str(event.get("message") or event.get("kind") or "warning")
            if message not in self.warnings:
                self.warnings.append(message)
        elif kind in TERMINAL_EVENTS:
            self.terminal = event
            if kind != "failed":
                self.step = max(self.step, step)
        elif kind == "epoch":
            self.epoch = int(event.get("epoch", self.epoch) or 0) + 1

    def feed_all(self, events: list[dict[str, Any]]) -> None:
        for event in events:
            self.feed(event)

    def _truncate(self, step: int) -> None:
        for series in (self.losses, self.metrics):
            for key in list(series):
                kept = [(s, v) for s, v in series[key] if s <= step]
                if kept:
                    series[key] = kept
                else:
                    del series[key]

    @property
    def fraction(self) -> float:
        return min(1.0, self.step / self.total_steps) if self.total_steps else 0.0

    def seconds_per_step(self) -> float | None:
        """Median time per optimizer step over the last steps (None before the first one)."""
        if not self.step_s:
            return None
        ordered = sorted(self.step_s)
        return ordered[len(ordered) // 2]


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def format_duration(seconds: float | None) -> str:
    """``"1 h 02 min"``, ``"3 min 05 s"``, ``"12 s"`` or ``"-"``."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "-"
    seconds = round(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
    if seconds >= 60:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds} s"
