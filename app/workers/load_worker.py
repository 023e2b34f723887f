"""Reading a scan off the GUI thread: load, make the RAS display copy, compute statistics."""

from __future__ import annotations

import time

from PyQt6.QtCore import QThread, pyqtSignal

from app.state import ImageLayer, ImageStats
from app.workers.load_request import FINE_GRID_SUFFIX, LoadRequest, display_name


def load_layer(request: LoadRequest) -> ImageLayer:
    """Everything a scan needs before it can be shown (pure computation, no Qt, no VTK).

    Raises:
        VolumeReadError: any reader problem (a subclass says which).
    """
    from volta_core.io import canonical_ras, load_volume

    volume = load_volume(request.path, series_uid=request.series_uid,
                         volume_index=request.volume_index, nonfinite=request.nonfinite)
    name = display_name(request.path)
    if request.fine_grid:
        from volta_core.io import VolumeReadError
        from volta_core.preprocess.resample import GridTooLargeError, subdivide_grid

        try:
            volume = subdivide_grid(volume)
        except GridTooLargeError as exc:
            raise VolumeReadError(f"The scan cannot be reopened on a 1 mm grid: {exc}.", path=request.path,
                                  hint="The scan on its own grid stays open.") from exc
        name += FINE_GRID_SUFFIX
    display = canonical_ras(volume)
    return ImageLayer(volume=volume, display=display, stats=ImageStats.from_array(display.data), name=name)


class LoadWorker(QThread):
    """Runs ``load_layer`` in its own thread; reports exactly one of ``loaded`` or ``failed``.

    Signals carry the request so the receiver can tell a stale (cancelled) load from the
    current one. The worker never touches VTK or widgets.
    """

    loaded = pyqtSignal(object, object, float)  # request, ImageLayer, seconds
    failed = pyqtSignal(object, object)  # request, exception

    def __init__(self, request: LoadRequest) -> None:
        super().__init__()
        self.request = request

    def run(self) -> None:  # runs in the worker thread
        start = time.perf_counter()
        try:
            layer = load_layer(self.request)
        except Exception as exc:  # noqa: BLE001 - every failure is reported to the GUI
            self.failed.emit(self.request, exc)
            return
        self.loaded.emit(self.request, layer, time.perf_counter() - start)
