"""Run ``volta predict`` as a real process, on small real scans, for the reliability tests."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import nibabel as nib
import numpy as np

from volta_core.preprocess.template import load_template

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
#: the lines ``volta predict`` itself writes to stderr; anything else leaked from a library
OWN_LINES = ("model: ", "done: ", "  failed: ", "error: ", "usage: ", "volta ")


def predict(*args: str | Path, model: Path | None, timeout: float = 300, preexec_fn: Callable[[], None] | None = None,
            env: dict[str, str] | None = None, python_prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """``python -m volta_core.cli predict ARGS --device cpu --threads 1 --quiet [--model MODEL]``.

    ``python_prefix`` replaces ``-m volta_core.cli`` (e.g. ``-c SCRIPT`` that patches something first).
    """
    command = [sys.executable, *(python_prefix or ("-m", "volta_core.cli")), "predict", *map(str, args),
               "--device", "cpu", "--threads", "1", "--quiet"]
    if model is not None:
        command += ["--model", str(model)]
    return subprocess.run(command, capture_output=True, text=True, env=env or ENV, timeout=timeout,
                          preexec_fn=preexec_fn)


def assert_no_traceback(proc: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]


def leaked_lines(stderr: str) -> list[str]:
    """stderr lines that ``volta predict`` did not write itself (library warnings and the like)."""
    return [line for line in stderr.splitlines() if line.strip() and not line.startswith(OWN_LINES)]


def rows(out: Path) -> dict[str, dict[str, str]]:
    with open(out / "results.csv", newline="", encoding="utf-8") as handle:
        return {row["scan"]: row for row in csv.DictReader(handle)}


def small_brain() -> tuple[np.ndarray, np.ndarray]:
    """The template T1 at 4.5 mm (about 43 x 51 x 43 voxels): a real head that registers in seconds."""
    template = load_template()
    data = np.asarray(template.image.data, dtype=np.float32)[::3, ::3, ::3]
    affine = template.image.affine.copy()
    affine[:3, :3] *= 3
    return np.ascontiguousarray(data), affine


def write_scan(path: Path, data: np.ndarray | None = None, affine: np.ndarray | None = None) -> Path:
    if data is None or affine is None:
        base, base_affine = small_brain()
        data = base if data is None else data
        affine = base_affine if affine is None else affine
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(data, affine), str(path))
    return path


def write_broken(path: Path) -> Path:
    """A file named like a scan that fails at once (no model run): a truncated gzip stream."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x1f\x8b\x08garbage")
    return path


def copy_bundle(bundle: Path, dest: Path, **card_changes: object) -> Path:
    """A copy of ``bundle`` with top-level model card fields changed (another model to the store)."""
    import json

    shutil.copytree(bundle, dest)
    card = json.loads((dest / "model_card.json").read_text())
    card.update(card_changes)
    (dest / "model_card.json").write_text(json.dumps(card, indent=2))
    return dest


def unprivileged() -> Callable[[], None] | None:
    """A ``preexec_fn`` under which file permissions hold even for root (None when not root).

    Root ignores permissions through CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH; dropping both from
    the bounding set before ``exec`` leaves a root child that a ``chmod 0`` folder or a ``0555``
    folder stops, while it can still run the interpreter wherever it is installed.
    """
    if os.geteuid() != 0:
        return None

    def drop() -> None:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_capbset_drop, cap_dac_override, cap_dac_read_search = 24, 1, 2
        for cap in (cap_dac_override, cap_dac_read_search):
            if libc.prctl(pr_capbset_drop, cap, 0, 0, 0) != 0:
                raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")

    return drop
