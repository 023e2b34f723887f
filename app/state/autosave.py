"""Autosave of a corrected mask, one file per scan, so a crash loses at most a few strokes (Qt-free).

The file holds only the box of the mask that holds labels (a few kB), the box's place on the
scan's grid and a little JSON (model, time, scan name). It is written to a temporary file and
renamed over the old one, so a crash while writing leaves the previous autosave intact.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from app.state.segmentation import Segmentation

#: Point this at a folder to keep autosaves there (tests use a temporary one).
AUTOSAVE_ENV = "VOLTA_AUTOSAVE_DIR"
#: An autosave is written after this many strokes (undo/redo included) ...
AUTOSAVE_EVERY_EDITS = 5
#: ... or this long after the last stroke, whichever comes first.
AUTOSAVE_DELAY_MS = 3000
_SUFFIX = ".autosave.npz"


def scan_key(source: str | Path) -> str:
    """A stable name for a scan file or DICOM folder: its absolute path, size and modification time
    (so a different file saved under the same name does not inherit the autosave)."""
    path = Path(source).expanduser().resolve()
    try:
        stat = path.stat()
        tag = f"{path}|{stat.st_size}|{stat.st_mtime_ns}"
    except OSError:
        tag = str(path)
    return hashlib.sha256(tag.encode("utf-8")).hexdigest()[:32]


#: appended to :func:`scan_key` for the scan reopened on a 1 mm grid: its corrections are on another
#: grid than the file's own, so the two keep separate autosaves
FINE_GRID_KEY_SUFFIX = "-1mm"


@dataclass(frozen=True)
class AutosaveRecord:
    """An autosaved mask: ``labels`` on the scan's grid and what it was made with."""

    labels: np.ndarray  # (I, J, K) uint8
    segmentation: str  # the prediction's layer name
    model_bundle: str
    scan_name: str
    saved_at: str  # ISO 8601, UTC

    def saved_at_text(self) -> str:
        try:
            return datetime.fromisoformat(self.saved_at).astimezone().strftime("%Y-%m-%d %H:%M")
        except ValueError:
            return self.saved_at


class AutosaveStore:
    """Autosave files in ``folder`` (created on first write)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def path_for(self, key: str) -> Path:
        return self.folder / f"{key}{_SUFFIX}"

    def write(self, key: str, segmentation: Segmentation, scan_name: str) -> Path:
        """Write ``segmentation``'s current labels atomically; returns the file.

        Raises:
            OSError: the folder cannot be created or written (disk full ...).
        """
        labels = segmentation.labels
        box = segmentation.box
        start = np.array([b.start for b in box], dtype=np.int64)
        meta = {"segmentation": segmentation.name, "model_bundle": str(segmentation.source), "scan_name": scan_name,
                "saved_at": datetime.now(UTC).isoformat(timespec="seconds"), "format": 1}
        self.folder.mkdir(parents=True, exist_ok=True)
        target = self.path_for(key)
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=f".{target.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                np.savez_compressed(handle, box_labels=np.ascontiguousarray(labels[box]), box_start=start,
                                    shape=np.array(labels.shape, dtype=np.int64), meta=np.array(json.dumps(meta)))
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        finally:
            Path(tmp).unlink(missing_ok=True)
        return target

    def read(self, key: str) -> AutosaveRecord | None:
        """The autosave of scan ``key``, or None if there is none or it cannot be read."""
        path = self.path_for(key)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                shape = tuple(int(v) for v in data["shape"])
                start = [int(v) for v in data["box_start"]]
                crop = np.asarray(data["box_labels"], dtype=np.uint8)
                meta = json.loads(str(data["meta"]))
            labels = np.zeros(shape, dtype=np.uint8)
            labels[tuple(slice(s, s + n) for s, n in zip(start, crop.shape))] = crop
        except (OSError, ValueError, KeyError, json.JSONDecodeError):
            return None  # damaged (e.g. the disk filled up): nothing to offer
        return AutosaveRecord(labels, str(meta.get("segmentation", "")), str(meta.get("model_bundle", "")),
                              str(meta.get("scan_name", "")), str(meta.get("saved_at", "")))

    def discard(self, key: str) -> None:
        self.path_for(key).unlink(missing_ok=True)
