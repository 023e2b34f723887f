"""Save ``resources/screenshots/training_panel.png``: the training panel as a new user first sees it
(its defaults: fine-tune segmentation from the bundled model, whose card sets the model input).

Run: ``xvfb-run -a -s "-screen 0 1600x1000x24" python scripts/screenshot_training_panel.py [--dataset BIDS]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_API", "pyqt6")
os.environ["VOLTA_STUDIO_SETTINGS"] = str(Path(tempfile.mkdtemp()) / "shot.ini")
os.environ.setdefault("VOLTA_RUNS_DIR", tempfile.mkdtemp())  # no job of the user's in the picture


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=None, help="a dataset to show checked in the form")
    parser.add_argument("--out", type=Path, default=ROOT / "resources" / "screenshots" / "training_panel.png")
    args = parser.parse_args()
    from PyQt6.QtCore import QEventLoop, QTimer

    from app.startup import create_main_window

    app, window = create_main_window()
    window.resize(1400, 900)
    window.show()
    panel = window.training.show_panel()
    if args.dataset is not None:
        panel.form.set_dataset(args.dataset)
        loop = QEventLoop()
        panel.form.validator.checked.connect(loop.quit)
        QTimer.singleShot(120_000, loop.quit)
        loop.exec()
    panel.setFloating(True)
    panel.resize(1300, 620)
    for _ in range(20):
        app.processEvents()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    panel.grab().save(str(args.out))
    print(args.out)
    window.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
