"""Individual whole-head label maps as synthesis sources: MNI alignment, held-out split,
several structures (hippocampus, amygdala, inferior lateral ventricle) as targets.

CI has no SynthSeg maps: fsaverage's ``aseg.mgz`` (FreeSurfer protocol, 256^3, LIA, in its
own space) stands in for an individual map; copies of it make a folder.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tests.helpers.label_maps import fsaverage_label_maps
from volta_core.data.synth import fs_labels as fsl
from volta_core.data.synth.generator import SampleOverrides, SynthGenerator
from volta_core.data.synth.sources import SourceLibrary, label_map_specs
from volta_core.data.synth.volumes import synth_config

STRUCTURES = ("hippocampus", "amygdala", "inferior_lateral_ventricle")


@pytest.fixture(scope="module")
def map_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fsaverage_label_maps(tmp_path_factory.mktemp("label_maps"))


@pytest.fixture(scope="module")
def individual_lib(map_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> SourceLibrary:
    cache = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VOLTA_CACHE", str(cache))
        lib = SourceLibrary("individual", 2.0, label_maps=map_folder)
        lib.get(lib.names[0])  # registers the map to the template once (cached by content)
        assert len(list((cache / "alignments").glob("*.json"))) == 1
    return lib


def test_heldout_split_is_by_subject_and_fixed(map_folder: Path) -> None:
    specs = label_map_specs(map_folder)
    held = [s.name for s in specs if s.subset == "individual_heldout"]
    assert held == ["map_training_seg_05"]
    train = SourceLibrary("individual", 2.0, label_maps=map_folder)
    assert not set(train.names) & set(held) and len(train) == 4
    assert SourceLibrary("individual_heldout", 2.0, label_maps=map_folder).names == held
    both = SourceLibrary("dk+individual", 2.0, label_maps=map_folder)
    assert "dk_mni152" in both.names and len(both) == 5


def test_single_maps_by_name_for_few_shot_runs(map_folder: Path) -> None:
    lib = SourceLibrary("map_training_seg_02+map_training_seg_04", 2.0, label_maps=map_folder)
    assert lib.names == ["map_training_seg_02", "map_training_seg_04"]
    with pytest.raises(ValueError, match="map_training_seg_09"):
        SourceLibrary("map_training_seg_09", 2.0, label_maps=map_folder)
    with pytest.raises(ValueError, match="label maps"):
        SourceLibrary("map_training_seg_02")


def test_individual_subset_needs_the_folder() -> None:
    with pytest.raises(ValueError, match="label maps"):
        SourceLibrary("individual")


def test_individual_map_is_aligned_to_mni(individual_lib: SourceLibrary) -> None:
    src = individual_lib.get(individual_lib.names[0])
    dk = SourceLibrary("dk", 3.0).get("dk_mni152")
    # fsaverage's hippocampi sit ~2 mm from DK's in MNI (DATA.md); its native space is MNI305-like
    assert np.linalg.norm(src.hippocampus_centre - dk.hippocampus_centre) < 8.0
    assert src.image is None and src.brain_distance is None
    assert abs(src.midline_x - dk.midline_x) < 5.0


@pytest.mark.parametrize("flip", [False, True])
def test_structures_as_left_right_classes(individual_lib: SourceLibrary, flip: bool) -> None:
    cfg = synth_config(spacing=2.0, size=[48, 40, 36], roi="hippocampus", mode="mixed", structures=STRUCTURES)
    sample = SynthGenerator(individual_lib, cfg).sample(5, SampleOverrides(source=individual_lib.names[0], flip=flip))
    assert sample["meta"]["mode"] == "synth"  # no image: template mode is impossible
    label = sample["label"]
    assert set(torch.unique(label).tolist()) == set(range(7))
    xs = {c: torch.nonzero(label == c).float()[:, 0].mean().item() for c in range(1, 7)}
    for left in (1, 3, 5):  # RAS grid: axis 0 runs left -> right, also after a mirror
        assert xs[left] < xs[left + 1]


def test_image_source_probability(individual_lib: SourceLibrary, map_folder: Path) -> None:
    lib = SourceLibrary("dk+individual", 2.0, label_maps=map_folder)
    cfg = synth_config(spacing=2.0, size=[16, 16, 16], roi="hippocampus", overrides={"image_source_prob": 0.6})
    gen = SynthGenerator(lib, cfg)
    draws = [gen._draw_source(np.random.default_rng(i)) for i in range(400)]
    share = draws.count("dk_mni152") / len(draws)
    assert 0.52 < share < 0.68  # uniform drawing would give 1/5


def test_target_table_and_class_names() -> None:
    table = fsl.target_table(STRUCTURES)
    assert table[fsl.compact_index(17)] == 1 and table[fsl.compact_index(53)] == 2
    assert table[fsl.compact_index(18)] == 3 and table[fsl.compact_index(54)] == 4
    assert table[fsl.compact_index(5)] == 5 and table[fsl.compact_index(44)] == 6
    assert fsl.structure_classes(["hippocampus"]) == {0: "background", 1: "left hippocampus", 2: "right hippocampus"}
    assert fsl.class_swap(7) == [0, 2, 1, 4, 3, 6, 5]
    with pytest.raises(ValueError, match="unknown structure"):
        fsl.target_table(["thalamus"])


def test_few_shot_draws_only_training_maps(map_folder: Path) -> None:
    """build_model.py's few-shot runs label n individual maps: never a held-out one, same per seed."""
    import sys

    root = Path(__file__).resolve().parents[4]
    sys.path.insert(0, str(root))
    from scripts.build_model import fewshot_maps

    drawn = {seed: fewshot_maps(map_folder, 2, seed) for seed in range(6)}
    assert all(len(m) == 2 and "map_training_seg_05" not in m for m in drawn.values())
    assert fewshot_maps(map_folder, 2, 3) == drawn[3] and len({tuple(m) for m in drawn.values()}) > 1
    assert len(fewshot_maps(map_folder, 9, 0)) == 4  # never more than the training maps
