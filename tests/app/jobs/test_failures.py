"""One matcher explains a failed run, whether the engine said why (a ``failed`` event) or the process
died without a word (the tail of its stderr)."""

from __future__ import annotations

import pytest

from app.jobs.failures import explain_failed_event, explain_failure, known_cause


@pytest.mark.parametrize(("text", "start"), [
    ("OSError: [Errno 28] No space left on device", "The disk is full"),
    ("RuntimeError: CUDA out of memory. Tried to allocate 2 GiB", "Out of memory"),
    ("MemoryError", "Out of memory"),
    ("PermissionError: [Errno 13] Permission denied: '/runs/x'", "The run folder cannot be written"),
])
def test_both_kinds_of_failure_get_the_same_advice(text: str, start: str) -> None:
    from_stderr = explain_failure(f"Traceback (most recent call last):\n  ...\n{text}\n")
    from_event = explain_failed_event({"event": "failed", "message": text})
    assert from_stderr.startswith(start) and from_event.startswith(start)
    assert text in from_stderr and text in from_event  # the engine's own words stay, under the advice
    assert known_cause(text) == from_event.splitlines()[0]


def test_unknown_causes_keep_the_last_error_line_or_say_what_probably_happened() -> None:
    assert known_cause("ValueError: bad") is None
    assert explain_failure("step 3\nValueError: bad value\nexiting") == "ValueError: bad value"
    assert explain_failed_event({"event": "failed", "error": "DatasetInvalidError"}) == "DatasetInvalidError"
    assert "killed" in explain_failure("").lower()
    assert explain_failure("anything", killed=True).startswith("Killed from the training panel")
