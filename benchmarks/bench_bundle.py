"""Packaged-app benchmark: size of the PyInstaller bundle and its cold start; prints a table.

Measures:
  1. bundle size (bytes on disk, like ``du -sh``) and number of files, with the largest parts,
  2. start to the first paint of the main window (``volta-studio --benchmark-startup``, the
     same mark benchmarks/bench_gui.py times for the source install), median of 3 runs: cold (the
     bundle's files dropped from the page cache before each run, as after a reboot) and warm,
     and the source install's (warm) for comparison,
  3. optionally (``--self-test``) the wall time of ``volta-studio --self-test``.

Run: ``python benchmarks/bench_bundle.py [BUNDLE_DIR] [--self-test]`` (default: the newest
``dist/volta-studio-*/volta-studio``); restarts itself under ``xvfb-run`` without a display.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_common import cpu_name, print_table, rerun_under_xvfb

ROOT = Path(__file__).resolve().parents[1]
STARTUP_RUNS = 3
MARK = "VOLTA_STARTUP_PAINTED"


def default_bundle() -> Path | None:
    found = sorted(ROOT.glob("dist/volta-studio-*/volta-studio/volta-studio"), key=lambda p: p.stat().st_mtime)
    return found[-1].parent if found else None


def disk_usage(folder: Path) -> tuple[int, int]:
    """(bytes on disk, files) of ``folder``, symlinks not followed."""
    total, files = 0, 0
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink():
            total += path.stat().st_blocks * 512
            files += 1
    return total, files


def largest_parts(internal: Path, count: int = 6) -> list[tuple[str, int]]:
    sizes = []
    for child in internal.iterdir():
        if child.is_symlink():  # PyInstaller links shared libraries to their one copy
            continue
        size = disk_usage(child)[0] if child.is_dir() else child.stat().st_blocks * 512
        sizes.append((child.name, size))
    return sorted(sizes, key=lambda item: -item[1])[:count]


def evict_from_page_cache(folder: Path) -> bool:
    """Drop ``folder``'s files from the OS page cache (only them), as after a reboot; False if unsupported."""
    if not hasattr(os, "posix_fadvise"):
        return False
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)
    return True


def startup_seconds(command: list[str], env: dict[str, str], evict: Path | None = None) -> list[float]:
    """Wall time from launching ``command --benchmark-startup`` to its first-paint mark (after
    evicting ``evict`` from the page cache before each run, if given)."""
    results = []
    for _ in range(STARTUP_RUNS):
        if evict is not None:
            evict_from_page_cache(evict)
        start = time.time()
        out = subprocess.run([*command, "--benchmark-startup"], cwd=ROOT, capture_output=True, text=True,
                             timeout=180, env=env, check=True).stdout
        mark = next(line for line in out.splitlines() if line.startswith(MARK))
        results.append(float(mark.split()[1]) - start)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bundle", nargs="?", type=Path, help="the bundle folder (holds the volta-studio executable)")
    parser.add_argument("--self-test", action="store_true", help="also time `volta-studio --self-test`")
    parser.add_argument("--model", type=Path, help="model bundle for --self-test (default: the bundled one)")
    args = parser.parse_args()
    rerun = rerun_under_xvfb("start the GUI")
    if rerun is not None:
        return rerun
    bundle = args.bundle or default_bundle()
    if bundle is None or not (bundle / "volta-studio").is_file():
        print("no bundle: build one with `python packaging/build.py` or pass its folder", file=sys.stderr)
        return 1
    env = dict(os.environ, QT_API="pyqt6", VOLTA_STUDIO_SETTINGS=str(Path(tempfile.mkdtemp()) / "bench.ini"))

    size, files = disk_usage(bundle)
    cold = startup_seconds([str(bundle / "volta-studio")], env, evict=bundle) if hasattr(os, "posix_fadvise") else []
    frozen = startup_seconds([str(bundle / "volta-studio")], env)
    source = startup_seconds([sys.executable, "-m", "app"], env)
    rows = [
        ("bundle size on disk", f"{size / 2**30:.2f} GiB", f"{bundle}"),
        ("files", f"{files}", "one-folder bundle (executable + _internal/)"),
        ("largest parts", ", ".join(f"{n} {s / 2**20:.0f} MiB" for n, s in largest_parts(bundle / "_internal")), ""),
        ("start to first paint, bundle, files not cached", f"{statistics.median(cold):.2f} s" if cold else "-",
         (f"median of {len(cold)}; runs {', '.join(f'{s:.2f}' for s in cold)} s; bundle evicted from the page "
          "cache before each (as after a reboot)")),
        ("start to first paint, bundle, files cached", f"{statistics.median(frozen):.2f} s",
         f"median of {len(frozen)}; runs {', '.join(f'{s:.2f}' for s in frozen)} s"),
        ("start to first paint, source install, files cached", f"{statistics.median(source):.2f} s",
         f"median of {len(source)}; `python -m app`, same machine"),
    ]
    if args.self_test:
        command = [str(bundle / "volta-studio"), "--self-test"] + (["--model", str(args.model)] if args.model else [])
        start = time.perf_counter()
        proc = subprocess.run(command, capture_output=True, text=True, timeout=1800, env=env)
        rows.append(("--self-test wall time", f"{time.perf_counter() - start:.1f} s",
                     "passed" if proc.returncode == 0 else f"FAILED (exit {proc.returncode})"))
    cpu = cpu_name()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"VolTA-3D Studio bundle benchmark - {os.cpu_count()} cores, {cpu}, load {load:.1f}, "
          f"display {os.environ.get('DISPLAY')}")
    print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
