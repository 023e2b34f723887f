"""packaging/linux/install.sh and uninstall.sh on a stand-in bundle, in a temporary home (fast)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINUX = ROOT / "packaging" / "linux"
MIME_TYPES = ("application/x-nifti", "application/x-nifti-gz", "application/x-freesurfer-mgz",
              "application/x-freesurfer-mgh")

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the Linux installer")


def load_build_script():  # returns the module
    """packaging/build.py as a module (by path: a ``build`` package may be installed too)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("volta_packaging_build", ROOT / "packaging" / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fake_stage(folder: Path) -> Path:
    """The unpacked tarball's layout (as packaging/build.py stages it), with a shell-script 'app'."""
    build = load_build_script()
    app = folder / "volta-studio"
    (app / "_internal").mkdir(parents=True)
    exe = app / "volta-studio"
    exe.write_text('#!/bin/sh\necho "volta-studio stand-in $*"\n')
    exe.chmod(0o755)
    icons = {}
    for size in (48, 256):
        icons[size] = folder / f"icon-{size}.png"
        icons[size].write_bytes(b"\x89PNG\r\n\x1a\n")
    build.stage_linux(folder, icons)
    return folder


def run(script: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("XDG_")}
    env.update(HOME=str(home), PATH=f"{home / '.local' / 'bin'}:{env.get('PATH', '/usr/bin:/bin')}")
    return subprocess.run(["bash", str(script), *args], env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("in_place", [False, True], ids=["copied", "in-place"])
def test_install_adds_menu_entry_icons_and_file_types_and_uninstall_removes_them(tmp_path: Path,
                                                                                in_place: bool) -> None:
    stage = fake_stage(tmp_path / "volta-studio-0.1.0-linux-x86_64")
    home = tmp_path / "home"
    share, config = home / ".local" / "share", home / ".config"
    config.mkdir(parents=True)
    # somebody else's defaults survive both scripts
    (config / "mimeapps.list").write_text("[Default Applications]\ntext/plain=gedit.desktop;\n"
                                          "application/x-nifti=fsleyes.desktop;\n"
                                          "[Added Associations]\napplication/x-nifti=fsleyes.desktop;"
                                          "volta-studio.desktop;\n")
    out = run(stage / "install.sh", home, *(["--in-place"] if in_place else []))
    assert out.returncode == 0, out.stderr
    prefix = share / "volta-studio"
    exe = (stage / "volta-studio" if in_place else prefix / "app") / "volta-studio"
    assert exe.is_file() and (prefix / "app").exists() != in_place

    desktop = (share / "applications" / "volta-studio.desktop").read_text()
    assert f'Exec="{exe}" %f' in desktop and f"TryExec={exe}" in desktop
    assert "MimeType=" + ";".join(MIME_TYPES) + ";" in desktop and "Icon=volta-studio" in desktop
    if shutil.which("desktop-file-validate"):
        checked = subprocess.run(["desktop-file-validate", str(share / "applications" / "volta-studio.desktop")],
                                 capture_output=True, text=True)
        assert checked.returncode == 0 and "error" not in checked.stdout, checked.stdout
    assert (share / "icons" / "hicolor" / "256x256" / "apps" / "volta-studio.png").is_file()
    assert (share / "icons" / "hicolor" / "scalable" / "apps" / "volta-studio.svg").is_file()
    assert (share / "mime" / "packages" / "volta-studio-mime.xml").is_file()
    if shutil.which("update-mime-database"):
        assert "*.nii.gz" in (share / "mime" / "globs2").read_text()
    defaults = (config / "mimeapps.list").read_text()
    for mime in MIME_TYPES:
        assert f"{mime}=volta-studio.desktop;" in defaults
    assert "text/plain=gedit.desktop;" in defaults and "application/x-nifti=fsleyes.desktop;\n[Added" not in defaults
    link = home / ".local" / "bin" / "volta-studio"
    assert link.is_symlink() and Path(os.readlink(link)) == exe
    launched = subprocess.run([str(link), "--self-test"], capture_output=True, text=True, timeout=30)
    assert launched.stdout.strip() == "volta-studio stand-in --self-test"
    # user data are kept by uninstall (unless --purge)
    user_models = share / "VolTA-3D Studio" / "models"
    user_models.mkdir(parents=True)

    out = run(prefix / "uninstall.sh", home)
    assert out.returncode == 0, out.stderr
    assert not link.exists() and not (share / "applications" / "volta-studio.desktop").exists()
    assert not list(share.glob("icons/hicolor/*/apps/volta-studio.*"))
    assert not (share / "mime" / "packages" / "volta-studio-mime.xml").exists()
    assert not prefix.exists()
    assert (stage / "volta-studio" / "volta-studio").is_file()  # the unpacked folder is the user's to delete
    after = (config / "mimeapps.list").read_text()
    assert "volta-studio.desktop" not in after
    assert "text/plain=gedit.desktop;" in after
    assert "[Added Associations]\napplication/x-nifti=fsleyes.desktop;" in after
    assert user_models.is_dir() and "kept" in out.stdout


def test_purge_removes_user_data_and_settings(tmp_path: Path) -> None:
    stage = fake_stage(tmp_path / "stage")
    home = tmp_path / "home"
    assert run(stage / "install.sh", home, "--no-default").returncode == 0
    assert not (home / ".config" / "mimeapps.list").exists()
    (home / ".local" / "share" / "VolTA-3D Studio" / "runs").mkdir(parents=True)
    (home / ".config" / "VolTA-3D").mkdir(parents=True)
    (home / ".config" / "VolTA-3D" / "Studio.conf").write_text("[General]\n")
    out = run(home / ".local" / "share" / "volta-studio" / "uninstall.sh", home, "--purge")
    assert out.returncode == 0, out.stderr
    assert not (home / ".local" / "share" / "VolTA-3D Studio").exists()
    assert not (home / ".config" / "VolTA-3D").exists()


def test_install_refuses_a_folder_without_the_app(tmp_path: Path) -> None:
    shutil.copy2(LINUX / "install.sh", tmp_path / "install.sh")
    out = run(tmp_path / "install.sh", tmp_path / "home")
    assert out.returncode == 1 and "volta-studio is missing" in out.stderr
