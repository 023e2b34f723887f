"""Is a training process still alive, and how to end it: by pid, without psutil or Qt.

Training jobs are started detached, so the app that watches them may not be their parent (it
may even be a later run of the app). A pid alone is not enough: pids are reused, and a dead
child that nobody reaped is a zombie that ``kill(pid, 0)`` still finds. On Linux the process
start time from ``/proc/<pid>/stat`` is recorded with the pid and both are checked.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path


def start_token(pid: int) -> str | None:
    """Something that identifies this incarnation of ``pid`` (its start time on Linux), else None."""
    fields = _proc_stat(pid)
    return fields[19] if fields else None


def process_alive(pid: int | None, token: str | None = None) -> bool:
    """True while ``pid`` runs (not a zombie) and, when ``token`` is given, is the same process."""
    if not pid or pid <= 0:
        return False
    if sys.platform.startswith("linux"):
        fields = _proc_stat(pid)
        if fields is None or fields[0] in ("Z", "X", "x"):
            return False
        return token is None or fields[19] == token
    if sys.platform == "win32":
        return _windows_alive(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def kill_process(pid: int) -> None:
    """End ``pid`` at once (SIGKILL; TerminateProcess on Windows). A vanished pid is not an error."""
    try:
        os.kill(pid, signal.SIGKILL if hasattr(signal, "SIGKILL") else signal.SIGTERM)
    except (ProcessLookupError, PermissionError, OSError):
        pass


def _proc_stat(pid: int) -> list[str] | None:
    """Fields of ``/proc/<pid>/stat`` after the command name: [state, ppid, ..., starttime at 19]."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[-1].split()
    return fields if len(fields) > 19 else None


def _windows_alive(pid: int) -> bool:  # pragma: no cover - Windows only
    import ctypes

    kernel = ctypes.windll.kernel32  # type: ignore[attr-defined]
    handle = kernel.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
    if not handle:
        return False
    try:
        code = ctypes.c_ulong()
        ok = kernel.GetExitCodeProcess(handle, ctypes.byref(code))
        return bool(ok) and code.value == 259  # STILL_ACTIVE
    finally:
        kernel.CloseHandle(handle)
