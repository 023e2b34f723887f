"""Faults a training run can meet that are not bugs: out of memory, a full disk.

Torch reports both as a bare ``RuntimeError`` (or ``MemoryError``/``OSError``) with many lines of
allocator or C++ detail. :func:`user_error` turns them into typed exceptions whose message is one
line: the cause and what to do. The run session emits the ``failed`` event with that message.
"""

from __future__ import annotations

import errno
import re

from volta_core.train.events import EventWriteError

__all__ = ["DiskFullError", "TrainingOutOfMemoryError", "first_line", "user_error"]

_OOM_MARKERS = ("out of memory", "can't allocate memory", "cannot allocate memory", "defaultcpuallocator",
                "failed to allocate")


class TrainingOutOfMemoryError(MemoryError):
    """The run needed more (GPU or main) memory than there is."""


class DiskFullError(OSError):
    """The run folder's disk is full."""


def first_line(exc: BaseException, limit: int = 200) -> str:
    """The first non-empty line of an exception's text, at most ``limit`` characters."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = lines[0] if lines else type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def is_out_of_memory(exc: BaseException) -> bool:
    """``MemoryError``, ``torch.OutOfMemoryError`` or a RuntimeError from an allocator."""
    if isinstance(exc, MemoryError):
        return True
    if type(exc).__name__ == "OutOfMemoryError":  # torch.OutOfMemoryError (CUDA / MPS)
        return True
    return isinstance(exc, RuntimeError) and any(m in str(exc).lower() for m in _OOM_MARKERS)


def _allocation(exc: BaseException) -> str:
    """What the allocator could not get, in words (torch's text is C++ detail)."""
    text = str(exc)
    found = re.search(r"allocate (\d+) bytes", text)
    if found:
        return f"{int(found.group(1)) / 2**20:.1f} MiB more of main memory was needed"
    found = re.search(r"[Tt]ried to allocate ([\d.]+ ?[KMGT]i?B)", text)
    if found:
        return f"{found.group(1)} more of device memory was needed"
    return first_line(exc, 120)


def user_error(exc: BaseException, step: int, started: bool = True) -> Exception | None:
    """A typed, one-line exception for a fault the user can fix, or ``None`` if it is not one.

    Args:
        exc: what was raised.
        step: optimizer steps completed when it happened (for the message).
        started: whether the training loop had begun (else it happened while setting up).
    """
    if isinstance(exc, TrainingOutOfMemoryError | DiskFullError | EventWriteError):
        return exc
    if is_out_of_memory(exc):
        where = f"at step {step + 1}" if started else "while setting up"
        return TrainingOutOfMemoryError(
            f"out of memory {where} ({_allocation(exc)}): lower batch_size or data.size, use a smaller "
            "encoder, or close other programs, then start again (or continue with --resume)")
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        where = f" {exc.filename}" if exc.filename else ""
        err = DiskFullError(f"disk full while writing{where}: free disk space, then continue the run with --resume")
        err.errno = exc.errno
        return err
    return None
