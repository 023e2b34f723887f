"""Build the packaged VolTA-3D Studio: a PyInstaller one-folder bundle, and on Linux the folder
(and optionally a tarball) that users install with ``install.sh``.

    .venv/bin/python packaging/build.py                     # bundles resources/models/*
    .venv/bin/python packaging/build.py --tarball           # ... and dist/volta-studio-<version>-linux-x86_64.tar.gz
    .venv/bin/python packaging/build.py --model /tmp/tiny   # bundle this model instead (testing)

Needs the ``packaging`` extra (``pip install -e .[packaging]``) and, on Linux, ``objdump``
(Debian package ``binutils``). Outputs (both gitignored):

    build/pyinstaller/                 PyInstaller's work folder (and the rendered icons)
    dist/volta-studio-<version>-<os>-<arch>/
        volta-studio/                  the bundle: volta-studio (the executable) + _internal/
        install.sh, uninstall.sh       Linux: per-user menu entry, icon and file associations
        share/                         Linux: desktop entry, MIME package, icons
        README.txt

The last line printed is the bundle folder (for scripts and tests).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGING = ROOT / "packaging"
SPEC = PACKAGING / "volta_studio.spec"
EXE_NAME = "volta-studio"
ICON_SVG = ROOT / "resources" / "icons" / "app.svg"
ICON_SIZES = (48, 128, 256, 512)


def version() -> str:
    sys.path.insert(0, str(ROOT))
    from app import __version__

    return __version__


def platform_tag() -> str:
    system = {"linux": "linux", "darwin": "macos", "win32": "windows"}.get(sys.platform, sys.platform)
    machine = platform.machine().lower().replace("amd64", "x86_64").replace("aarch64", "arm64")
    return f"{system}-{machine}"


def log(text: str) -> None:
    print(f"[build] {text}", flush=True)


def render_icons(out: Path) -> dict[int, Path]:
    """PNG renderings of ``resources/icons/app.svg`` (Qt's SVG renderer, no display needed)."""
    out.mkdir(parents=True, exist_ok=True)
    script = f"""
import os, sys
os.environ["QT_QPA_PLATFORM"] = "offscreen"
from PyQt6.QtCore import Qt
from PyQt6.QtGui import QGuiApplication, QImage, QPainter
from PyQt6.QtSvg import QSvgRenderer
app = QGuiApplication(sys.argv[:1])
renderer = QSvgRenderer({str(ICON_SVG)!r})
for size in {ICON_SIZES!r}:
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    renderer.render(painter)
    painter.end()
    assert image.save(os.path.join({str(out)!r}, f"volta-studio-{{size}}.png"))
"""
    subprocess.run([sys.executable, "-c", script], check=True)
    return {size: out / f"volta-studio-{size}.png" for size in ICON_SIZES}


def check_models(models: Path) -> None:
    bundles = sorted(p.parent.name for p in models.glob("*/model_card.json"))
    if (models / "model_card.json").is_file():
        raise SystemExit(f"{models} is a bundle itself: pass the folder that contains bundle folders, "
                         "or use --model with a bundle (it is placed in a folder of its own)")
    if bundles:
        log(f"bundled models: {', '.join(bundles)} (from {models})")
    else:
        log(f"WARNING: no model bundle in {models}: the app will ask users for one and --self-test "
            "fails without --model")


def stage_models(model: Path, work: Path) -> Path:
    """A folder holding ``model`` (a bundle) or the bundles inside it, for VOLTA_PACKAGING_MODELS."""
    if not (model / "model_card.json").is_file():
        return model
    staged = work / "models"
    shutil.rmtree(staged, ignore_errors=True)
    staged.mkdir(parents=True)
    shutil.copytree(model, staged / model.name)
    return staged


def run_pyinstaller(dist: Path, work: Path, models: Path, icon: Path, clean: bool) -> Path:
    env = dict(os.environ, VOLTA_PACKAGING_MODELS=str(models), VOLTA_PACKAGING_ICON=str(icon), QT_API="pyqt6")
    command = [sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN",
               "--distpath", str(dist), "--workpath", str(work), str(SPEC)]
    if clean:
        command.insert(3, "--clean")
    log(" ".join(command))
    subprocess.run(command, check=True, cwd=ROOT, env=env)
    return dist / EXE_NAME


def stage_linux(stage: Path, icons: dict[int, Path]) -> None:
    """Install scripts, desktop entry, MIME package and icons beside the bundle."""
    linux = PACKAGING / "linux"
    for script in ("install.sh", "uninstall.sh"):
        shutil.copy2(linux / script, stage / script)
        (stage / script).chmod(0o755)
    share = stage / "share"
    shutil.rmtree(share, ignore_errors=True)
    (share / "applications").mkdir(parents=True)
    (share / "mime").mkdir()
    shutil.copy2(linux / "volta-studio.desktop", share / "applications" / "volta-studio.desktop")
    shutil.copy2(linux / "volta-studio-mime.xml", share / "mime" / "volta-studio-mime.xml")
    scalable = share / "icons" / "hicolor" / "scalable" / "apps"
    scalable.mkdir(parents=True)
    shutil.copy2(ICON_SVG, scalable / "volta-studio.svg")
    for size, png in icons.items():
        folder = share / "icons" / "hicolor" / f"{size}x{size}" / "apps"
        folder.mkdir(parents=True)
        shutil.copy2(png, folder / "volta-studio.png")
    shutil.copy2(PACKAGING / "README.md", stage / "README.txt")


def make_tarball(stage: Path) -> Path:
    out = stage.with_name(stage.name + ".tar.gz")
    log(f"writing {out}")
    with tarfile.open(out, "w:gz", compresslevel=6) as tar:
        tar.add(stage, arcname=stage.name)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path,
                        help="a model bundle (or a folder of bundles) to include instead of resources/models")
    parser.add_argument("--dist", type=Path, default=ROOT / "dist", help="output folder (default dist/)")
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "pyinstaller",
                        help="PyInstaller's work folder (default build/pyinstaller)")
    parser.add_argument("--tarball", action="store_true", help="also write <stage>.tar.gz (Linux)")
    parser.add_argument("--clean", action="store_true", help="empty PyInstaller's cache and work folder first")
    parser.add_argument("--keep-work", action="store_true",
                        help="keep PyInstaller's work folder (by default it is removed: it holds a ~1 GB copy)")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    stage = args.dist.resolve() / f"{EXE_NAME}-{version()}-{platform_tag()}"
    work = args.work.resolve()
    models = stage_models(args.model.resolve(), work) if args.model else ROOT / "resources" / "models"
    check_models(models)
    icons = render_icons(work / "icons")
    bundle = run_pyinstaller(stage, work / "pyinstaller", models, icons[256], args.clean)
    if sys.platform.startswith("linux"):
        stage_linux(stage, icons)
    if not args.keep_work:
        shutil.rmtree(work / "pyinstaller", ignore_errors=True)
    if args.tarball and sys.platform.startswith("linux"):
        make_tarball(stage)
    log(f"done in {time.perf_counter() - started:.0f} s")
    print(bundle, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
