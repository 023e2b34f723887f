"""Torch-free pieces of predicting on many scans, shared by the flat batch and the BIDS App.

Which options change the numbers (:class:`BatchOptions`), whether a stored record is still what
a run would produce (:func:`is_current`), keeping library chatter out of the terminal
(:func:`captured_library_messages`) and the one-line messages for scans that fail. Nothing here
imports torch, so a process can read its first scan while torch is still being imported.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from volta_core.infer.export import one_line
from volta_core.infer.results_store import STATUS_OK, ScanRecord
from volta_core.io import MultiVolumeError, NonFiniteVoxelsError, VolumeReadError

_LIBRARY_LOGGERS = ("nibabel", "nibabel.global", "py.warnings")


@dataclass(frozen=True)
class BatchOptions:
    """Options that change the numbers; a record made with other ones is redone.

    Attributes:
        tta: also run on the mirrored scan and average.
        volume_index: which volume of 4D scans to use (``None``: 4D scans fail with a hint).
        nan_to_zero: replace NaN/inf voxels by 0 instead of failing.
        fine_grid: predict on the scan's grid subdivided to about 1 mm
            (:func:`volta_core.preprocess.subdivide_grid`): masks and volumes at that grid.
        segmenter: which of the bundle's segmenters draws the masks (``auto``, ``t1``, ``general``;
            :meth:`volta_core.infer.Predictor.predict`).
    """

    tta: bool = False
    volume_index: int | None = None
    nan_to_zero: bool = False
    fine_grid: bool = False
    segmenter: str = "auto"

    def as_dict(self) -> dict[str, Any]:
        return {"tta": self.tta, "volume_index": self.volume_index, "nan_to_zero": self.nan_to_zero,
                "fine_grid": self.fine_grid, "segmenter": self.segmenter}


def is_current(record: ScanRecord | None, out_dir: Path, model_hash: str, options: BatchOptions) -> bool:
    """Whether ``record`` is what this run would produce: same model, same effective options, outputs present.

    Records hold the options as they took effect: ``volume_index`` only for 4D scans and
    ``nan_to_zero`` only when voxels were replaced, so ``--volume`` or ``--nan-to-zero`` do not
    redo the scans they do not change.
    """
    if record is None or record.status != STATUS_OK or record.model_hash != model_hash:
        return False
    used = record.options
    if (bool(used.get("tta")) != options.tta
            or bool(used.get("fine_grid")) != options.fine_grid
            or used.get("segmenter", "auto") != options.segmenter
            or (used.get("volume_index") is not None and used.get("volume_index") != options.volume_index)
            or (bool(used.get("nan_to_zero")) and not options.nan_to_zero)):
        return False
    return bool(record.outputs) and all((out_dir / name).is_file() for name in record.outputs)


@contextlib.contextmanager
def captured_library_messages(notes: list[str]) -> Iterator[None]:
    """Collect Python warnings and nibabel log records into ``notes`` instead of stderr."""

    class _Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            notes.append(one_line(f"{record.name}: {record.getMessage()}"))

    handler = _Collect(level=logging.WARNING)
    loggers = [logging.getLogger(name) for name in _LIBRARY_LOGGERS]
    saved = [(lg.handlers[:], lg.propagate) for lg in loggers]
    for lg in loggers:
        lg.handlers = [handler]
        lg.propagate = False
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        finally:
            for lg, (handlers, propagate) in zip(loggers, saved):
                lg.handlers, lg.propagate = handlers, propagate
            for w in caught:
                notes.append(one_line(f"{w.category.__name__}: {w.message}"))


def hint_for_cli(exc: VolumeReadError) -> str:
    """The error's message with a hint that names this command's options."""
    if isinstance(exc, MultiVolumeError):
        return (f"{exc.message} Pass --volume N to predict on one of them "
                f"(0 to {exc.n_volumes - 1}).")
    if isinstance(exc, NonFiniteVoxelsError):
        return f"{exc.message} Pass --nan-to-zero to replace them with 0, or fix the file."
    return str(exc)


_OOM_MARKERS = ("failed to allocate memory", "out of memory", "std::bad_alloc", "cannot allocate memory",
                "defaultcpuallocator: can't allocate memory")


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is an allocation failure (SimpleITK/ITK and torch raise RuntimeErrors for them)."""
    text = str(exc).lower()
    return any(marker in text for marker in _OOM_MARKERS)


def out_of_memory(name: str) -> str:
    return (f"not enough memory to process '{name}': close other programs, run with --threads 1, "
            "or use a machine with more memory")
