"""Small, fast fixtures for the synthesis tests: sources at 3 mm, tiny output grids."""

from __future__ import annotations

import pytest

from volta_core.data.synth import GridConfig, SourceLibrary, SynthConfig


@pytest.fixture(autouse=True)
def _synth_threads(one_torch_thread):
    """Every synthesis test runs on one torch thread (``one_torch_thread`` in tests/conftest.py)."""


@pytest.fixture(scope="session")
def synth_lib_dk() -> SourceLibrary:
    lib = SourceLibrary("dk", spacing_mm=3.0)
    lib.sources()
    return lib


@pytest.fixture(scope="session")
def synth_lib_fs() -> SourceLibrary:
    lib = SourceLibrary("fsaverage", spacing_mm=3.0)
    lib.sources()
    return lib


@pytest.fixture(scope="session")
def synth_lib_all(synth_lib_dk: SourceLibrary, synth_lib_fs: SourceLibrary) -> SourceLibrary:
    return SourceLibrary("all", spacing_mm=3.0)


def _small_config(**kw) -> SynthConfig:
    kw.setdefault("grid", GridConfig.whole(40, 5.0))
    return SynthConfig(**kw)


@pytest.fixture
def small_config():
    """Factory of SynthConfig with a whole-head 40^3 grid at 5 mm (fast) unless a grid is given."""
    return _small_config
