"""PyInstaller entry point of VolTA-3D Studio: the same ``main`` as ``volta-studio``.

``multiprocessing.freeze_support()`` comes first: training's DataLoader workers use the spawn
start method, which in a frozen app re-runs this executable with ``--multiprocessing-fork``
arguments that must never reach the app's argument parser.
"""

import multiprocessing
import os
import sys


def _main() -> int:
    multiprocessing.freeze_support()
    os.environ.setdefault("QT_API", "pyqt6")  # pyvistaqt imports Qt through qtpy
    from app.__main__ import main

    return main()


if __name__ == "__main__":
    sys.exit(_main())
