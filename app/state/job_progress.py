"""Follow a run's ``metrics.jsonl`` (the progress-event protocol of ``volta_core/contracts/events.py``)
and fold its events into what the training panel shows: curves, step, throughput, ETA, outcome."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from volta_core.contracts.events import ENDINGS as TERMINAL_EVENTS
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
    #: ``(compute seconds, data-wait seconds)`` of the latest steps: a first epoch that prepares
    #: (registers, resamples) every scan waits for data; later, cached epochs hardly do.
    step_split: list[tuple[float, float]] = field(default_factory=list)
    epoch_times: list[float] = field(default_factory=list)  # ``time`` of each epoch event since start
    epoch_s: list[float] = field(default_factory=list)  # measured duration of each finished epoch
    eval_s: list[float] = field(default_factory=list)  # measured duration of each evaluation
    _last_time: float = 0.0
    _last_kind: str = ""

    def feed(self, event: dict[str, Any]) -> None:
        """Fold one event in."""
        kind = event.get("event")
        self.n_events += 1
        self.last_time = max(self.last_time, _number(event.get("time")) or 0.0)
        step = int(event.get("step", self.step) or 0)
        now = _number(event.get("time"))
        if kind == "started":
            self.started, self.terminal = event, None
            self.total_steps = int(event.get("total_steps", 0) or 0)
            self.device = str(event.get("device", ""))
            self.step = step
            self._truncate(step)  # a resumed run repeats the steps after its checkpoint
            self.step_split, self.epoch_times = [], [now] if now is not None else []
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
                wait = min(1.0, max(0.0, _number(event.get("data_wait_frac")) or 0.0)) * step_s
                self.step_split = (self.step_split + [(step_s - wait, wait)])[-50:]
        elif kind == "eval":
            if now is not None and self._last_time and self._last_kind == "epoch":
                self.eval_s = (self.eval_s + [max(0.0, now - self._last_time)])[-20:]
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
            if self._caching_first_epoch():
                # the scans are prepared and cached now: their waits say nothing about the next steps
                self.step_split = [(compute, 0.0) for compute, _ in self.step_split]
            if now is not None:
                if self.epoch_times:
                    self.epoch_s = (self.epoch_s + [max(0.0, now - self.epoch_times[-1])])[-20:]
                self.epoch_times.append(now)
        if now is not None:
            self._last_time, self._last_kind = now, str(kind)

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
        return _median(self.step_s)

    @property
    def steps_per_epoch(self) -> int | None:
        """Optimizer steps per epoch as the run reported it (``started``), or from epochs and total."""
        started = self.started or {}
        reported = started.get("steps_per_epoch")
        if isinstance(reported, int) and reported > 0:
            return reported
        epochs = (started.get("config") or {}).get("epochs")
        if isinstance(epochs, int) and epochs > 0 and self.total_steps and not (started.get("config") or {}).get("steps"):
            return max(1, self.total_steps // epochs)
        return None

    def _caching_first_epoch(self) -> bool:
        config = (self.started or {}).get("config") or {}
        return bool((config.get("data") or {}).get("cache", False)) and len(self.epoch_times) <= 1

    def eta_seconds(self) -> float | None:
        """Time left, from the measured steps (None before the first one).

        Every step left costs the median computing time of the latest steps. While the first epoch
        of a cached dataset runs, its remaining steps also wait for their scans to be prepared (the
        median measured wait); later epochs read them from memory. Evaluations left cost what the
        last one took.
        """
        if not self.step_split or not self.total_steps:
            return None
        left = max(0, self.total_steps - self.step)
        compute = _median([c for c, _ in self.step_split[-20:]])
        wait = _median([w for _, w in self.step_split[-20:]])
        per_epoch = self.steps_per_epoch
        if self._caching_first_epoch() and per_epoch:
            eta = left * compute + max(0, per_epoch - self.step) * wait
        else:
            eta = left * (compute + wait)
        if self.eval_s and per_epoch:
            evals_left = -(-left // per_epoch) if self.metrics_each_epoch else (1 if left else 0)
            eta += evals_left * self.eval_s[-1]
        return eta

    @property
    def metrics_each_epoch(self) -> bool:
        """True when the run evaluates a validation split after every epoch."""
        config = (self.started or {}).get("config") or {}
        return float(config.get("val_fraction", 0) or 0) > 0 and int((self.started or {}).get("n_val", 1) or 0) > 0

    def epoch_seconds(self) -> tuple[float | None, str]:
        """Time per epoch: the last finished epoch as measured, else projected from the measured steps.

        Returns:
            ``(seconds or None, "measured" | "projected")``.
        """
        if self.epoch_s:
            return self.epoch_s[-1], "measured"
        per_epoch = self.steps_per_epoch
        if self.step_split and per_epoch:
            compute = _median([c for c, _ in self.step_split[-20:]])
            wait = _median([w for _, w in self.step_split[-20:]])
            return per_epoch * (compute + wait), "projected"
        return None, "projected"

    def steady_seconds_per_step(self) -> tuple[float, float] | None:
        """``(compute, data wait)`` seconds of a step, medians of the latest steps (None before one)."""
        if not self.step_split:
            return None
        return (_median([c for c, _ in self.step_split[-20:]]), _median([w for _, w in self.step_split[-20:]]))


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def format_duration(seconds: float | None) -> str:
    """``"1 h 02 min"``, ``"3 min 05 s"``, ``"12 s"``, ``"0.4 s"`` or ``"-"``."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "-"
    if seconds < 9.95:  # a short epoch or step is not "0 s"
        return f"{seconds:.1f} s"
    seconds = round(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
    if seconds >= 60:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds} s"
