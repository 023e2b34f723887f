"""Save ``resources/screenshots/prediction.png``: the sample scan with a prediction shown
(overlays in the slice views, hippocampus meshes in the 3D view, the results panel).

Run: ``xvfb-run -a -s "-screen 0 1600x1000x24" python scripts/screenshot_prediction.py [--model BUNDLE]``;
without ``--model`` a tiny template segmenter is trained first (about a minute). ``--scan FILE``
shows another scan; ``--fine-grid`` reopens it on a 1 mm grid (File > Reopen on a 1 mm grid) first.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_API", "pyqt6")
os.environ["VOLTA_STUDIO_SETTINGS"] = str(Path(tempfile.mkdtemp()) / "shot.ini")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--scan", type=Path, default=None, help="scan to show (default: the sample scan)")
    parser.add_argument("--fine-grid", action="store_true", help="reopen the scan on a 1 mm grid before the run")
    parser.add_argument("--out", type=Path, default=ROOT / "resources" / "screenshots" / "prediction.png")
    args = parser.parse_args()
    bundle = args.model
    if bundle is None:
        from tests.helpers.tiny_models import train_template_segmenter

        bundle = train_template_segmenter(Path(tempfile.mkdtemp()), steps=150)

    from app.startup import create_main_window, wait_for
    from volta_core.io import sample_scan_path

    app, window = create_main_window()
    window.resize(1600, 1000)
    window.show()
    window.create_views()

    window.open_path(args.scan or sample_scan_path())
    wait_for(window.scan_loaded)
    if args.fine_grid:
        window.file.reopen_on_fine_grid()
        wait_for(window.scan_loaded)
    window.inference.add_bundle(bundle)
    window.inference.run()
    wait_for(window.inference.prediction_added)
    window.inference.go_to_hippocampus(1)
    center = window.cursor.position
    grid = window.view_grid
    for view in grid.slice_views.values():
        view.set_camera(center, 62.0)
    window.clip_action.setChecked(True)
    grid.volume_view.focus_on(center, 260.0)
    window.results_panel.raise_()
    end = time.perf_counter() + 1.5
    while time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.01)
    for view in grid.views.values():
        view.render_now() if hasattr(view, "render_now") else view.plotter.render()
    app.processEvents()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    window.grab().save(str(args.out))
    print(args.out)
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
