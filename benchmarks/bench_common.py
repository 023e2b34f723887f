"""Shared pieces of the GUI benchmarks: a display (Xvfb when there is none), the machine line, the table."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path


def rerun_under_xvfb(what: str) -> int | None:
    """Without a display, run this script again under ``xvfb-run`` and return its exit code;
    with one, return ``None`` (carry on). ``what`` completes "cannot ..." in the error."""
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return None
    xvfb = shutil.which("xvfb-run")
    if xvfb is None:
        print(f"no display and no xvfb-run: cannot {what}", file=sys.stderr)
        return 1
    return subprocess.call([xvfb, "-a", "-s", "-screen 0 1600x1000x24", sys.executable, *sys.argv])


def cpu_name() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.exists():
        return "?"
    return next((line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                 if line.startswith("model name")), "unknown CPU")


def print_table(rows: list[tuple[str, str, str]]) -> None:
    """``| measure | result | notes |`` in Markdown."""
    width = max(len(r[0]) for r in rows)
    print(f"| {'measure'.ljust(width)} | result | notes |")
    print(f"|{'-' * (width + 2)}|--------|-------|")
    for name, value, note in rows:
        print(f"| {name.ljust(width)} | {value} | {note} |")
