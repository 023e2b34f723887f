"""Progress-event protocol of training runs (parsed by the GUI training panel).

A run prints ONE JSON object per line on stdout and appends the same line to
``<run>/metrics.jsonl`` (rank 0 only). Every object has:

- ``"event"``: one of :data:`EVENTS`
- ``"time"``: Unix time in seconds (float)
- ``"run"``: the run folder

and, depending on the event:

===============  ================================================================================
``started``      ``kind`` ("pretrain" / "finetune"), ``total_steps``, ``step`` (>0 when resumed),
                 ``resumed`` (bool), ``device``, ``world_size``, ``config`` (resolved, as a dict)
``step``         ``step`` (optimizer steps done), ``epoch``, every loss term (``loss``,
                 ``loss_global``, ...), ``lr``, ``wd``, ``volumes_per_s``, ``data_wait_frac``,
                 ``eta_s``; pretraining adds ``momentum``, ``teacher_temp`` and the teacher
                 diagnostics ``teacher_entropy``, ``teacher_diversity``, ``teacher_patch_entropy``
``epoch``        ``epoch`` (finished), ``step``, mean of each loss term over the epoch
``eval``         ``step``, ``epoch``, metric names -> values (e.g. ``dice_left``, ``auroc``)
``checkpoint``   ``step``, ``path``
``finished``     ``step``, ``path`` of the final artefact (checkpoint or bundle), final metrics
``stopped``      ``step``, ``reason`` ("signal" / "stop-file"), ``path`` of the checkpoint
``failed``       ``step``, ``error`` (class name), ``message``
``warning``      ``step``, ``kind`` (e.g. "teacher_collapse"), ``message``: the run goes on, but
                 a person should look (shown in the training panel)
===============  ================================================================================

Lines that do not start with ``{`` (e.g. warnings) must be ignored by readers.
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import Any, TextIO

EVENTS = ("started", "step", "epoch", "eval", "checkpoint", "finished", "stopped", "failed", "warning")


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

    def __init__(self, run_dir: str | Path, enabled: bool = True, stream: TextIO | None = sys.stdout) -> None:
        self.run_dir = Path(run_dir)
        self.enabled = enabled
        self.stream = stream
        self.path = self.run_dir / "metrics.jsonl"

    def emit(self, event: str, **fields: Any) -> dict[str, Any]:
        """Write one event; returns the object written."""
        if event not in EVENTS:
            raise ValueError(f"unknown event {event!r}; expected one of {EVENTS}")
        obj = {"event": event, "time": round(time.time(), 3), "run": str(self.run_dir), **_clean(fields)}
        if not self.enabled:
            return obj
        line = json.dumps(obj, separators=(",", ":"))
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")
        if self.stream is not None:
            self.stream.write(line + "\n")
            self.stream.flush()
        return obj


def read_events(path: str | Path) -> list[dict[str, Any]]:
    """Parse a ``metrics.jsonl`` file or captured stdout, skipping non-JSON lines."""
    out = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.startswith("{"):
            out.append(json.loads(line))
    return out


def parse_lines(text: str) -> list[dict[str, Any]]:
    """Parse captured stdout text into events (non-JSON lines are ignored)."""
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]
