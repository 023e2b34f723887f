"""Save the Results panel, the 3D view and the model card page after a prediction with the shipped
model on the sample scan, at 1280 x 800: ``resources/screenshots/results_panel.png``, ``view_3d.png``,
``model_card.png`` and ``model_card_metrics.png``.

Run: ``xvfb-run -a -s "-screen 0 1600x1000x24" python scripts/screenshot_results.py [--model BUNDLE]``
(a few seconds: the shipped model needs no training).
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
os.environ["VOLTA_AUTOSAVE_DIR"] = tempfile.mkdtemp()
os.environ.setdefault("VOLTA_MODELS_DIR", tempfile.mkdtemp())  # only the shipped model


def _settle(app, seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.01)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None, help="a bundle (default: the shipped model)")
    parser.add_argument("--out", type=Path, default=ROOT / "resources" / "screenshots")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=800)
    args = parser.parse_args()

    from app.model_dialogs import ModelCardDialog
    from app.startup import create_main_window, grab_window, wait_for
    from volta_core.io import sample_scan_path

    app, window = create_main_window()
    window.resize(args.width, args.height)
    window.show()
    window.create_views()

    window.open_path(sample_scan_path())
    wait_for(window.scan_loaded)
    if args.model is not None:
        window.inference.add_bundle(args.model)
    window.inference.run()
    wait_for(window.inference.prediction_added)
    window.results_panel.raise_()
    _settle(app, 1.5)
    grid = window.view_grid
    for view in grid.views.values():
        view.plotter.render()
    app.processEvents()
    args.out.mkdir(parents=True, exist_ok=True)
    written = []
    window.results_panel.grab().save(str(args.out / "results_panel.png"))
    written.append(args.out / "results_panel.png")
    # the 3D view as the user first sees it after a run (no camera moved, nothing clicked)
    full = grab_window(window)
    volume = grid.volume_view
    top_left = volume.mapTo(window, volume.rect().topLeft())
    full.copy(top_left.x(), top_left.y(), volume.width(), volume.height()).save(str(args.out / "view_3d.png"))
    written.append(args.out / "view_3d.png")
    bundle = window.inference.selected_bundle()
    dialog = ModelCardDialog(bundle, window)
    dialog.resize(760, 760)
    dialog.show()
    _settle(app, 0.5)
    dialog.grab().save(str(args.out / "model_card.png"))
    written.append(args.out / "model_card.png")
    dialog.browser.scrollToAnchor("metrics")
    _settle(app, 0.3)
    dialog.grab().save(str(args.out / "model_card_metrics.png"))
    written.append(args.out / "model_card_metrics.png")
    dialog.close()
    for path in written:
        print(path)
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
