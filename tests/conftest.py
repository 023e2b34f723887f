"""Fixtures shared by every test folder."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def one_torch_thread():
    """One torch thread for the test (the 2-core CPU is shared); the caller's setting comes back after."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _trained_bundle_key() -> str:
    """Hash of everything that decides the trained weights: the recipe, model and preprocessing
    code, the template and the torch version (a change in any of them retrains)."""
    import torch

    digest = hashlib.sha256(torch.__version__.encode())
    files = [ROOT / "tests" / "helpers" / "tiny_models.py"]
    for folder in ("volta_core/model", "volta_core/preprocess", "resources/templates"):
        files += sorted((ROOT / folder).rglob("*"))
    for path in files:
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(path.relative_to(ROOT).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


@pytest.fixture(scope="session")
def trained_segmenter_bundle(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny REAL segmenter trained on the shipped template (see tests/helpers/tiny_models.py).

    Trained once per session (about 20 s on an idle 2-core machine, minutes when it is busy). It
    is also kept in pytest's cache, keyed by a hash of the code and data that determine it, so
    later sessions reuse it until that code changes (``--cache-clear`` or
    ``VOLTA_TEST_RETRAIN=1`` forces a fresh training; CI starts from a clean clone and trains).
    """
    import torch

    from tests.helpers.tiny_models import train_template_segmenter

    out = tmp_path_factory.mktemp("trained")
    cache = getattr(request.config, "cache", None)  # absent under -p no:cacheprovider
    cached = Path(cache.mkdir("volta-trained-segmenter")) / _trained_bundle_key() if cache is not None else None
    if cached is not None and (cached / "model_card.json").is_file() and not os.environ.get("VOLTA_TEST_RETRAIN"):
        return Path(shutil.copytree(cached, out / cached.name))
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        bundle = train_template_segmenter(out, steps=120)
    finally:
        torch.set_num_threads(threads)
    if cached is not None:
        shutil.rmtree(cached.parent, ignore_errors=True)  # keep only the current version
        shutil.copytree(bundle, cached)
    return bundle
