"""Does the window stay responsive while the model runs? Prints a table.

Opens the bundled sample scan (256^3, 1 mm, LIA) in the main window, then runs a model bundle on
it through the GUI (Model > Run: worker thread, progress per stage) while a QTimer ticks every
10 ms on the GUI thread and records the gaps between ticks. The largest gap is the longest the
event loop was blocked (a stall the user would feel as a frozen window). Also reports each
stage's time as the worker saw it, and the GUI-thread time to add the result (overlays, meshes).

Run: ``python benchmarks/bench_gui_inference.py [--model BUNDLE] [--runs N]``; without ``--model``
a tiny template segmenter is trained first (about a minute). Restarts itself under ``xvfb-run``
when there is no display.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench_common import rerun_under_xvfb

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_API", "pyqt6")
os.environ["VOLTA_STUDIO_SETTINGS"] = str(Path(tempfile.mkdtemp()) / "bench.ini")

TICK_MS = 10


class StallMeter:
    """A 10 ms QTimer on the GUI thread; ``gaps`` are the intervals between its ticks (seconds)."""

    def __init__(self) -> None:
        from PyQt6.QtCore import Qt, QTimer

        self.gaps: list[float] = []
        self.ends: list[float] = []  # when each gap ended (perf_counter)
        self._last: float | None = None
        self._timer = QTimer()
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(TICK_MS)
        self._timer.timeout.connect(self._tick)

    def _tick(self) -> None:
        now = time.perf_counter()
        if self._last is not None:
            self.gaps.append(now - self._last)
            self.ends.append(now)
        self._last = now

    def start(self) -> None:
        self.gaps, self.ends, self._last = [], [], None
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()


def run_benchmark(bundle: Path, runs: int) -> list[dict[str, float]]:
    from PyQt6.QtCore import QEventLoop, QTimer

    from app.startup import create_main_window
    from volta_core.io import sample_scan_path

    app, window = create_main_window()
    window.resize(1600, 1000)
    window.show()
    window.create_views()

    def wait_for(signal, timeout_s: float = 600.0) -> None:
        loop = QEventLoop()
        signal.connect(loop.quit)
        QTimer.singleShot(int(timeout_s * 1000), loop.quit)
        loop.exec()
        signal.disconnect(loop.quit)

    window.open_path(sample_scan_path())
    wait_for(window.scan_loaded)
    window.inference.add_bundle(bundle)
    meter = StallMeter()
    results = []
    for run in range(runs):
        stages: dict[str, float] = {}
        added: dict[str, float] = {}

        def keep_stages(_seg: object, stages: dict[str, float] = stages, added: dict[str, float] = added) -> None:
            added["at"] = time.perf_counter()  # the GUI starts adding the result now
            outcome = window.inference.last_outcome
            stages.update(outcome.stage_seconds if outcome else {})
            added["total"] = outcome.seconds if outcome else float("nan")

        window.inference.prediction_added.connect(keep_stages)
        meter.start()
        started = time.perf_counter()
        window.inference.run()
        wait_for(window.inference.prediction_added)
        wall = time.perf_counter() - started
        # let the queued repaints of the new overlays and meshes happen while still measuring
        end = time.perf_counter() + 0.5
        while time.perf_counter() < end:
            app.processEvents()
            time.sleep(0.005)
        meter.stop()
        window.inference.prediction_added.disconnect(keep_stages)
        gaps = sorted(meter.gaps)
        while_running = [g for g, end in zip(meter.gaps, meter.ends) if end - g < added["at"] and end <= added["at"]]
        results.append({"run": run + 1, "wall": wall, "worker": added.get("total", float("nan")),
                        "max_stall": gaps[-1], "max_stall_running": max(while_running, default=float("nan")), "p99_stall": gaps[int(0.99 * (len(gaps) - 1))],
                        "median_tick": statistics.median(gaps), "ticks": len(gaps), **stages})
    window.close()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None, help="model bundle folder")
    parser.add_argument("--runs", type=int, default=2, help="runs (the first one also imports torch)")
    args = parser.parse_args()
    rerun = rerun_under_xvfb("benchmark the GUI")
    if rerun is not None:
        return rerun
    bundle = args.model
    if bundle is None:
        from tests.helpers.tiny_models import train_template_segmenter

        print("training a tiny template segmenter (no --model given)...", file=sys.stderr)
        bundle = train_template_segmenter(Path(tempfile.mkdtemp()), steps=100)
    results = run_benchmark(bundle, args.runs)
    stage_names = ["load", "preprocess", "model", "inverse", "measure", "display"]
    header = ["run", "wall s", "max stall ms", "stall running", "p99 stall ms", "median tick ms",
              *[f"{s} s" for s in stage_names]]
    print(f"GUI responsiveness while the model runs (sample scan 256^3, {os.cpu_count()} CPU cores, "
          f"tick every {TICK_MS} ms)")
    print(" | ".join(f"{h:>14}" for h in header))
    for r in results:
        cells = [f"{r['run']:>14d}", f"{r['wall']:>14.2f}", f"{r['max_stall'] * 1000:>14.1f}",
                 f"{r['max_stall_running'] * 1000:>14.1f}",
                 f"{r['p99_stall'] * 1000:>14.1f}", f"{r['median_tick'] * 1000:>14.1f}",
                 *[f"{r.get(s, float('nan')):>14.2f}" for s in stage_names]]
        print(" | ".join(cells))
    print("run 1 includes importing torch and loading the bundle (stage 'load'). max stall = longest the GUI "
          "event loop was blocked, anywhere in the run including showing the result (new overlays, meshes and "
          "a repaint of all four views); stall running = the same while the worker was still busy.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
