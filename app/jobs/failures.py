"""Why a training run failed, in a sentence that says what to do: one matcher for the engine's
``failed`` event and for the last words of a process that died without one."""

from __future__ import annotations

from typing import Any

#: Known causes: markers (lower case) in an error text, and the advice shown for them.
CAUSES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("no space left", "errno 28"), "The disk is full: the run could not write its files. Free some space, then Resume."),
    (("out of memory", "memoryerror"),
     "Out of memory. Lower batch_size or data.size (or close other programs), then Resume."),
    (("permission denied", "read-only file system"),
     "The run folder cannot be written (permission denied or read-only)."),
)


def known_cause(text: str) -> str | None:
    """The advice for the first known cause named in ``text``, None if none is."""
    low = text.lower()
    return next((advice for markers, advice in CAUSES if any(m in low for m in markers)), None)


def explain_failure(stderr_tail: str, killed: bool = False) -> str:
    """A sentence for a process that ended without a ``finished``/``stopped``/``failed`` event."""
    if killed:
        return "Killed from the training panel. Resume continues from the last checkpoint."
    text = stderr_tail.strip()
    if not text:
        return ("The training process ended without reporting why: it was killed (by another program, "
                "or by the system when memory ran out). Resume continues from the last checkpoint.")
    detail = _last_line(text)
    cause = known_cause(text)
    return detail if cause is None else f"{cause}\n{detail}".rstrip()


def explain_failed_event(event: dict[str, Any]) -> str:
    """The message of the engine's ``failed`` event, with the advice for a known cause first."""
    message = str(event.get("message") or event.get("error") or "the run failed")
    cause = known_cause(message)
    return message if cause is None else f"{cause}\n{message}"


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower()]
    return (errors or lines or [""])[-1]
