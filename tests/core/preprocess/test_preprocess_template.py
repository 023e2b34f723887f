"""The template resources built by scripts/make_template.py."""

from __future__ import annotations

import json

import numpy as np
import pytest

from volta_core.preprocess.template import Template, default_template_dir, load_template


def test_resources_are_small_and_licensed() -> None:
    folder = default_template_dir()
    total = sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
    assert 0 < total < 3e6
    licence = folder.parents[0] / "licenses" / "ICBM2009-LICENSE.txt"
    text = licence.read_text()
    assert "McGill University" in text and "Louis Collins" in text


def test_template_geometry(template: Template) -> None:
    assert template.image.orientation == ("R", "A", "S")
    assert np.allclose(template.image.spacing, 1.5)
    assert template.image.same_grid(template.mask)
    brain = template.mask.data > 0
    # the ICBM brain mask (brain + CSF, MNI space is ~10 % larger than an average head): ~1.9 L
    volume_ml = brain.sum() * np.prod(template.mask.spacing) / 1000.0
    assert 1600 < volume_ml < 2100
    assert template.image.data[brain].mean() > 5 * max(template.image.data[~brain].mean(), 1e-3)


def test_hippocampus_roi_is_inside_the_brain_and_holds_both_sides(template: Template) -> None:
    roi = template.roi("hippocampus")
    meta = json.loads((default_template_dir() / "hippocampus_roi.json").read_text())
    lo, hi = np.asarray(roi.min_mm), np.asarray(roi.max_mm)
    for side in meta["per_side_unpadded"].values():
        assert np.all(np.asarray(side["min"]) >= lo) and np.all(np.asarray(side["max"]) <= hi)
    # left hippocampus on the left (x < 0), right on the right, both inferior to the brain centre
    assert meta["per_side_unpadded"]["left"]["max"][0] < 0 < meta["per_side_unpadded"]["right"]["min"][0]
    centre_voxel = template.mask.world_to_voxel(roi.center_mm)
    assert template.mask.data[tuple(np.round(centre_voxel).astype(int))] > 0
    assert np.all(roi.size_mm > 40) and np.all(roi.size_mm < 120)


def test_unknown_roi_and_missing_template(template: Template, tmp_path) -> None:
    with pytest.raises(KeyError, match="hippocampus"):
        template.roi("amygdala")
    with pytest.raises(FileNotFoundError, match="make_template"):
        load_template(tmp_path)
