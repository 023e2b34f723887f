"""``volta-studio``: start the desktop app, optionally opening a scan.

Start-up is ordered for a fast first paint: the window (plain Qt) is shown first; the scan
starts loading in a worker thread and VTK/pyvista are imported only after that.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

STARTUP_MARK = "VOLTA_STARTUP_PAINTED"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="volta-studio",
                                     description="VolTA-3D Studio: view brain MRI scans. "
                                                 "For research use only. Not for diagnosis.")
    parser.add_argument("scan", nargs="?", type=Path, help="a scan file or DICOM folder to open")
    parser.add_argument("--sample", action="store_true", help="open the bundled sample scan")
    parser.add_argument("--screenshot", type=Path, metavar="FILE",
                        help="save a PNG of the window once the scan is shown, then exit")
    parser.add_argument("--benchmark-startup", action="store_true",
                        help=f"print '{STARTUP_MARK} <unix time>' at the window's first paint, then exit")
    parser.add_argument("--self-test", action="store_true",
                        help="check this installation: open the sample scan, run a model, export and read back "
                             "a report, then exit 0 (passed) or 1 (failed); needs a display or xvfb-run")
    parser.add_argument("--model", type=Path, metavar="BUNDLE",
                        help="with --self-test: the model bundle to use (default: the first bundled model)")
    return parser.parse_args(argv)


#: Hidden first argument: ``volta-studio --volta-cli pretrain ...`` runs the ``volta`` command
#: line in this executable. The training panel starts jobs this way, so a packaged app (one
#: frozen executable, no Python on the machine) trains in a separate process of itself.
CLI_FLAG = "--volta-cli"


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``volta-studio`` command; returns the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == [CLI_FLAG]:
        from volta_core.cli import main as cli_main

        return cli_main(argv[1:])
    args = parse_args(argv)
    if args.self_test:
        from app.selftest import run_self_test

        return run_self_test(args.model, argv)
    os.environ.setdefault("QT_API", "pyqt6")
    from PyQt6.QtCore import QTimer

    from app.startup import FirstPaintWatcher, ScreenshotTaker, create_main_window

    app, window = create_main_window()
    status = {"code": 0}

    if args.benchmark_startup:
        def painted() -> None:
            print(f"{STARTUP_MARK} {time.time():.6f}", flush=True)
            window.close()
            app.quit()

        watcher = FirstPaintWatcher(window, painted)  # noqa: F841 - kept alive until exit
        window.show()
        return app.exec()

    window.show()
    if args.screenshot is not None:
        taker = ScreenshotTaker(window, args.screenshot, expect_scan=bool(args.scan or args.sample),  # noqa: F841
                                on_done=lambda code: (status.update(code=code), window.close(), app.quit()))
    if args.scan is not None:
        QTimer.singleShot(0, lambda: window.open_path(args.scan))
    elif args.sample:
        QTimer.singleShot(0, window.open_sample)
    QTimer.singleShot(0, window.create_views)
    code = app.exec()
    return status["code"] or code


if __name__ == "__main__":
    sys.exit(main())
