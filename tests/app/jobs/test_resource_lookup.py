"""The app finds its icons, shipped configs and bundled models where the core's one lookup says."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest


def test_icons_configs_and_models_follow_a_pyinstaller_bundle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from app.icons import icons_dir
    from app.jobs.locations import default_config_text
    from app.state.model_catalog import bundled_models_dir

    assert default_config_text("seg")  # shipped in the checkout
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)  # what PyInstaller sets
    assert icons_dir() == tmp_path / "resources" / "icons"
    assert bundled_models_dir() == tmp_path / "resources" / "models"
    assert default_config_text("seg") == ""  # the fake bundle ships no configs
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "finetune_seg_tiny.yaml").write_text("task: seg\n", encoding="utf-8")
    assert default_config_text("seg") == "task: seg\n"
