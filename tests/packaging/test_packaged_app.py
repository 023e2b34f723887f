"""Build the PyInstaller bundle and check the frozen app: ``--self-test`` (the real window under
Xvfb, the bundled model, report read back), training and prediction through ``--volta-cli``, and
the installer on the real bundle.

Takes about 10 minutes on 2 cores (the build), so it runs only with ``VOLTA_PACKAGING_TEST=1`` or
``CI=true`` in the environment (``.ci/run`` sets neither, so it is skipped there unless the CI
machine sets ``CI``); ``bash scripts/test.sh -m packaging`` with the variable set runs it alone.
The bundle goes to build/packaging-test/ and is deleted afterwards (``VOLTA_KEEP_BUNDLE=1`` keeps it).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "build" / "packaging-test"
ENABLED = os.environ.get("VOLTA_PACKAGING_TEST") == "1" or os.environ.get("CI") == "true"
BUILD_TIMEOUT_S = 45 * 60
TINY_FINETUNE = ["data.size=32", "data.spacing=5.0",
                 "model.overrides={patch_size: 8, embed_dim: 32, depth: 2, num_heads: 2, out_indices: [1, 2]}",
                 "device=cpu", "threads=1", "augment=false", "min_per_class=1", "optim.warmup_steps=1", "epochs=1",
                 "val_fraction=0.5"]

TINY_PRETRAIN = ["data.size=32", TINY_FINETUNE[2], "batch_size=2", "synthetic_subjects=4", "device=cpu", "threads=1",
                 "ssl.model_kwargs={head_out_dim: 64, head_hidden_dim: 64, head_bottleneck_dim: 32}",
                 "optim.warmup_steps=2", "ssl.teacher_temp_warmup_steps=2", "steps=3", "data.num_workers=1"]

pytestmark = [
    pytest.mark.packaging,
    pytest.mark.timeout(BUILD_TIMEOUT_S + 600),
    pytest.mark.skipif(not ENABLED, reason="builds the bundle (~10 min): set VOLTA_PACKAGING_TEST=1 to run it"),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the CI bundle is built on Linux"),
]


def frozen_env(home: Path) -> dict[str, str]:
    """A user's environment: no source tree on the path, a home of its own (user data, settings)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTHON", "VIRTUAL_ENV", "XDG_", "VOLTA_", "PYTEST"))}
    env.update(HOME=str(home), OMP_NUM_THREADS="2")
    return env


@pytest.fixture(scope="module")
def stage(trained_segmenter_bundle: Path) -> Iterator[Path]:
    """The staged Linux folder (bundle + installer) with the tiny trained model as the bundled model."""
    try:
        import PyInstaller  # noqa: F401
    except ImportError:
        pytest.fail("PyInstaller is missing: install the packaging extra (pip install -e '.[packaging]')")
    shutil.rmtree(OUT, ignore_errors=True)
    started = time.perf_counter()
    command = [sys.executable, str(ROOT / "packaging" / "build.py"), "--model", str(trained_segmenter_bundle),
               "--dist", str(OUT / "dist"), "--work", str(OUT / "work")]
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    print(f"bundle built in {time.perf_counter() - started:.0f} s")
    bundle = Path(proc.stdout.strip().splitlines()[-1])
    assert (bundle / "volta-studio").is_file()
    yield bundle.parent
    if not os.environ.get("VOLTA_KEEP_BUNDLE"):
        shutil.rmtree(OUT, ignore_errors=True)


def test_bundle_holds_resources_and_leaves_out_what_is_unused(stage: Path) -> None:
    internal = stage / "volta-studio" / "_internal"
    for relative in ("resources/icons/app.svg", "resources/licenses/FreeSurfer-LICENSE.txt",
                     "resources/sample/fsaverage_T1.mgz", "resources/templates/template.json",
                     "resources/templates/icbm2009c_t1_brain_1p5mm.nii.gz"):
        assert (internal / relative).is_file(), relative
    assert list((internal / "resources" / "models").glob("*/model.safetensors"))
    assert not (internal / "resources" / "screenshots").exists()
    for unused in ("tkinter", "torch/include", "torch/test", "pandas", "PyQt6/Qt6/qml"):
        assert not (internal / unused).exists(), unused
    assert not list(internal.rglob("*.h")) and not list(internal.glob("**/libQt6Quick*"))
    size = sum(p.stat().st_size for p in (stage / "volta-studio").rglob("*") if p.is_file() and not p.is_symlink())
    assert size < 2.5e9, f"the bundle grew to {size / 1e9:.2f} GB"


def test_self_test_of_the_bundle_passes_with_the_bundled_model(stage: Path, tmp_path: Path) -> None:
    exe = stage / "volta-studio" / "volta-studio"
    out = subprocess.run([str(exe), "--self-test"], cwd=tmp_path, env=frozen_env(tmp_path), capture_output=True,
                         text=True, timeout=900, stdin=subprocess.DEVNULL)
    print(out.stdout)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-5000:]
    assert "(PyInstaller bundle" in out.stdout and "SELF-TEST PASSED" in out.stdout
    assert f"model bundle: {stage / 'volta-studio' / '_internal' / 'resources' / 'models'}" in out.stdout
    assert "no network connection attempted" in out.stdout


def test_the_frozen_cli_trains_and_predicts(stage: Path, tmp_path: Path) -> None:
    """Training jobs start as ``<app> --volta-cli ...``: synthetic data, a real fine-tuning run, a prediction."""
    exe = str(stage / "volta-studio" / "volta-studio")
    env = frozen_env(tmp_path)
    data = tmp_path / "bids"
    made = subprocess.run([exe, "--volta-cli", "synth-data", str(data), "--subjects", "8", "--shape", "32",
                           "--spacing", "5"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert made.returncode == 0, made.stderr[-3000:]
    run = tmp_path / "ft"
    trained = subprocess.run([exe, "--volta-cli", "finetune", "--task", "ad", "--data", str(data), "--out", str(run),
                              *TINY_FINETUNE], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert trained.returncode == 0, trained.stderr[-5000:]
    events = [json.loads(line) for line in trained.stdout.splitlines() if line.startswith("{")]
    assert events and events[-1]["event"] == "finished"
    assert json.loads((run / "bundle" / "model_card.json").read_text())["heads"]["ad"]["trained"]

    # self-supervised pretraining with a spawned DataLoader worker (launcher.py's freeze_support)
    pre = subprocess.run([exe, "--volta-cli", "pretrain", "--out", str(tmp_path / "pre"), *TINY_PRETRAIN],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert pre.returncode == 0, pre.stderr[-5000:]
    assert (tmp_path / "pre" / "bundle" / "model_card.json").is_file()

    sample = stage / "volta-studio" / "_internal" / "resources" / "sample" / "fsaverage_T1.mgz"
    predicted = subprocess.run([exe, "--volta-cli", "predict", str(sample), "--out", str(tmp_path / "pred"),
                                "--device", "cpu", "--quiet"],
                               cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert predicted.returncode == 0, predicted.stderr[-5000:]
    rows = list(csv.DictReader((tmp_path / "pred" / "results.csv").open()))
    assert rows[0]["status"] == "ok" and 1.0 < float(rows[0]["hippocampus_left_ml"]) < 8.0


def test_installer_on_the_real_bundle(stage: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = frozen_env(home)
    out = subprocess.run(["bash", str(stage / "install.sh"), "--in-place"], env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    link = home / ".local" / "bin" / "volta-studio"
    helped = subprocess.run([str(link), "--volta-cli", "--help"], env=env, capture_output=True, text=True, timeout=120)
    assert helped.returncode == 0 and "finetune" in helped.stdout, helped.stderr[-3000:]
    desktop = (home / ".local" / "share" / "applications" / "volta-studio.desktop").read_text()
    assert f'Exec="{stage / "volta-studio" / "volta-studio"}" %f' in desktop
    out = subprocess.run(["bash", str(home / ".local" / "share" / "volta-studio" / "uninstall.sh")], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and not link.exists(), out.stderr
