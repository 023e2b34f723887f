"""metrics.jsonl under faults: a full disk, a killed writer, a resume (issue 15, items 13 and 26)."""

from __future__ import annotations

import errno
import io
import json
import os

import pytest

from tests.helpers.small_disk import small_disk
from volta_core.train import events as events_module
from volta_core.train.events import EventLog, EventWriteError, parse_lines, read_events

PAD = "x" * 900  # about 1 KB per event: a few fill a page


def _fill_until_full(log: EventLog) -> int:
    for i in range(1, 1000):
        try:
            log.emit("step", step=i, loss=1.0, pad=PAD)
        except EventWriteError:
            return i
    raise AssertionError("the disk never filled")


def test_full_disk_never_leaves_half_a_line_in_metrics(tmp_path, monkeypatch):
    """Real tmpfs of 8 KiB (falls back to an os.write that writes half and then raises ENOSPC)."""
    with small_disk(tmp_path / "disk", "8k") as disk:
        if disk is None:
            real_write = os.write
            state = {"budget": 7000}

            def limited(fd, data):
                if state["budget"] <= 0:
                    raise OSError(errno.ENOSPC, "No space left on device")
                n = min(len(data), state["budget"])
                state["budget"] -= n
                return real_write(fd, data[:n])

            monkeypatch.setattr(events_module.os, "write", limited)
            disk = tmp_path / "disk"
        out = io.StringIO()
        log = EventLog(disk / "run", stream=out)
        (disk / "run").mkdir()
        failed_at = _fill_until_full(log)
        raw = (disk / "run" / "metrics.jsonl").read_bytes()
        assert raw.endswith(b"\n")
        lines = raw.decode().splitlines()
        assert [json.loads(line)["step"] for line in lines] == list(range(1, failed_at))
        assert [e["step"] for e in read_events(disk / "run" / "metrics.jsonl")] == list(range(1, failed_at))
        # the ending event reaches stdout and never raises, whether or not the disk still takes it
        log.emit("failed", step=failed_at, error="DiskFullError", message="disk full " + PAD)
        assert parse_lines(out.getvalue())[-1]["event"] == "failed"
        after = (disk / "run" / "metrics.jsonl").read_bytes()
        assert after.endswith(b"\n") and all(json.loads(line) for line in after.decode().splitlines())


def test_read_events_skips_a_torn_last_line(tmp_path):
    path = tmp_path / "metrics.jsonl"
    whole = [json.dumps({"event": "step", "step": s, "note": "café"}, ensure_ascii=False) for s in (1, 2)]
    torn = json.dumps({"event": "step", "step": 3, "note": "café"}, ensure_ascii=False).encode()
    torn = torn[: torn.index("é".encode()) + 1]  # cut inside the two bytes of "é"
    path.write_bytes(("\n".join(whole) + "\n").encode() + torn)
    assert [e["step"] for e in read_events(path)] == [1, 2]
    assert [e["step"] for e in parse_lines("\n".join(whole) + "\n{\"event\": \"st")] == [1, 2]


def test_an_event_after_a_killed_writer_starts_on_its_own_line(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"event":"step","step":1}\n{"event":"step","st')  # a writer killed mid-line
    EventLog(tmp_path, stream=None).emit("started", step=1)
    assert [e["event"] for e in read_events(path)] == ["step", "started"]
    assert path.read_text().startswith('{"event":"step","step":1}\n{"event":"step","st\n{"event":"started"')


def test_a_resume_supersedes_the_events_past_its_checkpoint(tmp_path):
    """Item 26: the file stays append-only (readers follow it by offset); read_events gives each step once."""
    path = tmp_path / "metrics.jsonl"
    log = EventLog(tmp_path, stream=None)
    log.emit("started", step=0)
    for s in (1, 2):
        log.emit("step", step=s)
    log.emit("checkpoint", step=2)
    log.emit("step", step=3)  # then the process was killed
    log.emit("started", step=2, resumed=True)
    for s in (3, 4):
        log.emit("step", step=s)
    assert [(e["event"], e["step"]) for e in read_events(path)] == [
        ("started", 0), ("step", 1), ("step", 2), ("checkpoint", 2), ("started", 2), ("step", 3), ("step", 4)]
    assert len(path.read_text().splitlines()) == 8


@pytest.mark.parametrize("event", ["stopped", "failed"])
def test_ending_events_are_recorded(tmp_path, event):
    log = EventLog(tmp_path, stream=None)
    log.emit("step", step=4)
    assert log.ended is None and log.step == 4
    log.emit(event, step=4)
    assert log.ended == event
