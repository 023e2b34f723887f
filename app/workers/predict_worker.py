"""Running a model bundle on the open scan off the GUI thread.

Torch (and the model code) is imported here, in the worker thread, the first time a model runs:
start-up and scan loading never pay for it. The worker never touches VTK or widgets; everything
it hands back is numpy arrays and plain objects.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PyQt6.QtCore import QThread, pyqtSignal

from app.state.display_grid import DisplayIndex, display_index

if TYPE_CHECKING:
    from volta_core.infer import Prediction
    from volta_core.io import Volume


@dataclass(frozen=True)
class PredictRequest:
    """One run: which bundle on which device, on which scan (and its display grid)."""

    bundle: Path
    device: str
    volume: Volume
    display_affine: np.ndarray
    display_shape: tuple[int, int, int]
    name: str = ""
    index: DisplayIndex | None = None  # the scan's display mapping, if known
    #: gets the scan's display mapping (built once per scan: the first caller, in its thread, pays)
    display_mapping: Callable[[], DisplayIndex] | None = None


@dataclass
class PredictOutcome:
    """What a finished run hands to the GUI."""

    request: PredictRequest
    prediction: Prediction
    index: DisplayIndex
    probability: np.ndarray  # (X, Y, Z) uint8: (p(left) + p(right)) * 255 on the display grid
    display_labels: np.ndarray  # (X, Y, Z) uint8: the labels on the display grid
    intended_use: str
    device_name: str
    seconds: float
    stage_seconds: dict[str, float] = field(default_factory=dict)


class PredictorCache:
    """Keeps the last loaded predictor so a second run skips loading the bundle (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple[str, str] | None = None
        self._predictor: Any = None

    def get(self, bundle: Path, device: str) -> Any:
        from volta_core.infer import Predictor

        key = (str(Path(bundle).resolve()), device)
        with self._lock:
            if self._key != key:
                self._predictor = None  # free the old model before loading the new one
                self._predictor = Predictor.from_bundle(bundle, device=device)
                self._key = key
            return self._predictor


def probability_on_display(prediction: Prediction, index: DisplayIndex) -> np.ndarray:
    """p(left) + p(right) scaled to uint8 0..255 on the display grid."""
    probs = prediction.probabilities
    foreground = np.clip(probs[1].astype(np.float32) + probs[2].astype(np.float32), 0.0, 1.0)
    return index.to_display(np.rint(foreground * 255).astype(np.uint8))


class PredictWorker(QThread):
    """Runs one prediction; reports exactly one of ``succeeded``, ``failed`` or ``cancelled``.

    ``progress(stage, fraction)`` follows the predictor's stages (``load``, ``preprocess``,
    ``model``, ``inverse``, ``measure``, then ``display`` while the overlays are prepared).
    """

    progress = pyqtSignal(str, float)
    succeeded = pyqtSignal(object)  # PredictOutcome
    failed = pyqtSignal(object, object)  # request, exception
    cancelled = pyqtSignal(object)  # request

    def __init__(self, request: PredictRequest, cache: PredictorCache) -> None:
        super().__init__()
        self.request = request
        self.cancel_event = threading.Event()
        self._cache = cache
        self.stage_seconds: dict[str, float] = {}
        self._stage: tuple[str, float] | None = None

    def cancel(self) -> None:
        """Ask the run to stop at the next stage boundary."""
        self.cancel_event.set()

    def _report(self, stage: str, fraction: float) -> None:
        now = time.perf_counter()
        if self._stage is not None and self._stage[0] != stage:
            self.stage_seconds[self._stage[0]] = now - self._stage[1]
        if self._stage is None or self._stage[0] != stage:
            self._stage = (stage, now)
        self.progress.emit(stage, fraction)

    def run(self) -> None:  # runs in the worker thread
        request = self.request
        started = time.perf_counter()
        self._report("load", 0.0)  # the first run imports torch here: part of "load"
        from volta_core.infer import PredictionCancelled

        try:
            predictor = self._cache.get(request.bundle, request.device)
            if self.cancel_event.is_set():
                raise PredictionCancelled("prediction cancelled")
            prediction = predictor.predict(request.volume, progress=self._report, cancel=self.cancel_event,
                                           name=request.name)
            self._report("display", 0.95)
            index = request.index or (request.display_mapping() if request.display_mapping is not None else
                                      display_index(request.volume, request.display_affine, request.display_shape))
            probability = probability_on_display(prediction, index)
            display_labels = index.to_display(prediction.labels)
            if self.cancel_event.is_set():
                raise PredictionCancelled("prediction cancelled")
            self._report("done", 1.0)
        except PredictionCancelled:
            self.cancelled.emit(request)
            return
        except BaseException as exc:
            self.failed.emit(request, exc)
            return
        self.succeeded.emit(PredictOutcome(
            request=request, prediction=prediction, index=index, probability=probability,
            display_labels=display_labels,
            intended_use=str(predictor.card.intended_use), device_name=predictor.device_name,
            seconds=time.perf_counter() - started, stage_seconds=dict(self.stage_seconds)))
