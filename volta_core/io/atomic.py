"""Atomic file writes: a hidden temporary file next to the target, then ``os.replace``.

Every file written here gets the mode any new file gets (``0o666`` minus the umask, 0644 by
default), like the masks nibabel writes, never ``mkstemp``'s 0600. Temporary files are named
``.<name>.<pid>-<random>.tmp[<suffix>]`` and removed on every error; the pid lets a later run
remove the ones a killed process left (:func:`remove_stale_temporaries`).
"""

from __future__ import annotations

import errno
import os
import re
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from volta_core.io.errors import VolumeWriteError

_TEMP_PATTERN = re.compile(r"^\..+\.(?P<pid>\d+)-[0-9a-f]{8}\.tmp(\.[A-Za-z.]+)?$")
#: A temporary file whose process is gone is removed only when it is at least this old, so a
#: writer on another machine sharing the folder (whose pid means nothing here) is left alone.
STALE_AFTER_S = 600.0


def temporary_path(path: Path, suffix: str = "") -> Path:
    """The hidden temporary name used to write ``path`` (``suffix`` keeps e.g. ``.nii.gz`` last)."""
    return path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp{suffix}")


def write_atomically(path: Path, write: Callable[[Path], None], *, suffix: str = "") -> Path:
    """Call ``write(temporary)`` and rename the result onto ``path``.

    Args:
        path: the final file.
        write: writes the whole file to the path it is given (which does not exist yet).
        suffix: ending the temporary name must keep (writers that choose the format by name).

    Raises:
        VolumeWriteError: the folder is missing or read-only, or the disk is full; nothing is
            left behind under either name.
    """
    temporary = temporary_path(path, suffix)
    try:
        write(temporary)
        os.replace(temporary, path)
    except OSError as exc:
        remove_quietly(temporary)
        raise VolumeWriteError(f"'{path}' could not be written: {describe_os_error(exc)}.", path=path) from exc
    except BaseException:
        remove_quietly(temporary)
        raise
    return path


def write_bytes_atomically(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically and durably (fsync before the rename)."""

    def write(temporary: Path) -> None:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())

    return write_atomically(path, write)


def write_text_atomically(path: Path, text: str) -> Path:
    """UTF-8 text, written like :func:`write_bytes_atomically`."""
    return write_bytes_atomically(path, text.encode("utf-8"))


def remove_quietly(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass


def describe_os_error(exc: OSError) -> str:
    """A short reason for an ``OSError`` ("no space left on device", "read-only file system" ...)."""
    if exc.errno == errno.ENOSPC:
        return "the disk is full"
    if exc.errno == errno.EROFS:
        return "the file system is read-only"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    return (exc.strerror or str(exc) or type(exc).__name__).rstrip(".").lower()


def remove_stale_temporaries(folder: Path, *, older_than_s: float = STALE_AFTER_S) -> list[Path]:
    """Remove temporary files in ``folder`` left by processes that no longer run.

    Returns:
        The files removed. Errors (a file gone meanwhile, no permission) are ignored.
    """
    removed: list[Path] = []
    now = time.time()
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = _TEMP_PATTERN.match(entry.name)
        if match is None or int(match["pid"]) == os.getpid() or _process_alive(int(match["pid"])):
            continue
        try:
            if not entry.is_file(follow_symlinks=False) or now - entry.stat().st_mtime < older_than_s:
                continue
            os.unlink(entry.path)
            removed.append(Path(entry.path))
        except OSError:
            continue
    return removed


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # someone else's process (or an absurd pid): leave its files alone
    return True
