"""GUI benchmarks for VolTA-3D Studio; prints a table.

Measures:
  1. cold start: process start to the main window's first paint (``--benchmark-startup``),
  2. building the VTK views (pyvista/VTK import plus four interactors), done after the first paint,
  3. open + display of the bundled sample scan (256^3, 1 mm, LIA): load in the worker thread,
     RAS display copy, statistics, then every view rendered,
  4. slice scrolling: wheel events on the axial view (1150x820 px in the single layout), each
     followed by a synchronous render of that view, and each followed by a full Qt repaint (what
     the user sees), in the single layout and in the 2x2 layout (three slice views repaint).

Run: ``python benchmarks/bench_gui.py`` (restarts itself under ``xvfb-run`` when there is no display).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_common import cpu_name, print_table, rerun_under_xvfb

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_API", "pyqt6")
# benchmarks never touch the user's settings
os.environ["VOLTA_STUDIO_SETTINGS"] = str(Path(tempfile.mkdtemp()) / "bench.ini")

STARTUP_RUNS = 5
OPEN_RUNS = 3
SCROLL_STEPS = 200


def cold_start_seconds() -> list[float]:
    """Wall time from launching ``python -m app --benchmark-startup`` to its first-paint mark."""
    results = []
    for _ in range(STARTUP_RUNS):
        start = time.time()
        out = subprocess.run([sys.executable, "-m", "app", "--benchmark-startup"], cwd=ROOT,
                             capture_output=True, text=True, timeout=120, check=True).stdout
        mark = next(line for line in out.splitlines() if line.startswith("VOLTA_STARTUP_PAINTED"))
        results.append(float(mark.split()[1]) - start)
    return results


def gui_benchmarks() -> dict[str, list[float]]:
    from PyQt6.QtCore import QPoint, QPointF, Qt
    from PyQt6.QtGui import QWheelEvent
    from PyQt6.QtWidgets import QApplication

    from app.state import Layout
    from app.startup import create_main_window
    from volta_core.io import sample_scan_path

    app, window = create_main_window()
    window.resize(1400, 900)
    window.show()
    app.processEvents()
    results: dict[str, list[float]] = {}

    start = time.perf_counter()
    window.create_views()
    app.processEvents()
    results["views"] = [time.perf_counter() - start]

    sample = sample_scan_path()
    results["open"] = []
    for _ in range(OPEN_RUNS):
        window.close_scan()
        app.processEvents()
        done: list[float] = []
        window.scan_loaded.connect(lambda _layer: done.append(time.perf_counter()))
        start = time.perf_counter()
        window.open_path(sample)
        while not done:
            app.processEvents()
            time.sleep(0.001)
        app.processEvents()
        results["open"].append(done[0] - start)
        window.scan_loaded.disconnect()

    axial = window.view_grid.slice_views["axial"]

    def scroll(repaint: bool) -> float:
        """Wheel steps per second; each step is rendered synchronously, or (``repaint``) shown
        through Qt's event loop as the user sees it (render + blit + window composition)."""
        widget = axial.plotter
        center = QPointF(widget.width() / 2, widget.height() / 2)
        start = time.perf_counter()
        for i in range(SCROLL_STEPS):
            delta = 120 if (i // 50) % 2 == 0 else -120  # up 50 slices, down 50, ...
            event = QWheelEvent(center, widget.mapToGlobal(center), QPoint(0, 0), QPoint(0, delta),
                                Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier,
                                Qt.ScrollPhase.NoScrollPhase, False)
            QApplication.sendEvent(widget, event)
            if repaint:
                app.processEvents()
            else:
                axial.render_now()
        elapsed = time.perf_counter() - start
        app.processEvents()
        return SCROLL_STEPS / elapsed

    window.display.set_main_view("axial")
    window.display.set_layout(Layout.SINGLE)
    app.processEvents()
    results["fps_render"] = [scroll(False) for _ in range(3)]
    results["fps_single"] = [scroll(True) for _ in range(3)]
    window.display.set_layout(Layout.GRID)
    app.processEvents()
    results["fps_grid"] = [scroll(True) for _ in range(3)]
    window.close()
    app.processEvents()
    return results


def main() -> int:
    rerun = rerun_under_xvfb("benchmark the GUI")
    if rerun is not None:
        return rerun
    startup = cold_start_seconds()
    gui = gui_benchmarks()
    rows = [
        ("cold start to first paint", f"{statistics.median(startup):.2f} s",
         f"median of {len(startup)} (min {min(startup):.2f}, max {max(startup):.2f}); budget 2 s"),
        ("build VTK views (after first paint)", f"{gui['views'][0]:.2f} s", "pyvista import + 4 QtInteractors"),
        ("open + display sample (256^3, 1 mm)", f"{statistics.median(gui['open']):.2f} s",
         f"median of {len(gui['open'])}; load, RAS copy, stats, render all views"),
        ("slice scrolling, one view, render per step", f"{statistics.median(gui['fps_render']):.0f} frames/s",
         f"{SCROLL_STEPS} wheel steps, synchronous VTK render each; target >= 30"),
        ("slice scrolling, one view, as displayed", f"{statistics.median(gui['fps_single']):.0f} frames/s",
         "wheel step + Qt repaint (render, blit, window composition), single layout"),
        ("slice scrolling, 2x2 layout, as displayed", f"{statistics.median(gui['fps_grid']):.0f} frames/s",
         "each step repaints the 3 slice views (3D follows at <= 8 Hz)"),
    ]
    cpu = cpu_name()
    print(f"VolTA-3D Studio GUI benchmark - {os.cpu_count()} cores, {cpu}, display {os.environ.get('DISPLAY')}")
    print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
