"""The held-out test on individual anatomy, and its diagnostic twin on the maps trained on.

CI has no SynthSeg maps: copies of fsaverage's ``aseg.mgz`` (FreeSurfer protocol) make the folder.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.helpers.label_maps import fsaverage_label_maps
from volta_core.infer.cli_predict import default_bundle
from volta_core.train.heldout_individual import evaluate_individual


@pytest.fixture(scope="module")
def map_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fsaverage_label_maps(tmp_path_factory.mktemp("label_maps"))


def test_an_unknown_subset_is_refused_before_anything_loads(map_folder: Path) -> None:
    with pytest.raises(ValueError, match="individual_heldout"):
        evaluate_individual(map_folder / "no-bundle", map_folder, subset="fsaverage")


@pytest.mark.slow  # one whole-head prediction with the shipped model
def test_the_trained_on_maps_can_be_scored_with_the_same_protocol(map_folder: Path) -> None:
    result = evaluate_individual(default_bundle(), map_folder, contrasts=("t1",), subset="individual", limit=1)
    assert result["maps"] == ["map_training_seg_01"]  # a training map, not the held-out 5th
    case = result["cases"][0]
    assert case["dice_left"] > 0.6 and case["dice_right"] > 0.6
    assert abs(case["volume_error_left"]) < 0.5


def _case(true_ml: tuple[float, float], predicted_ml: tuple[float, float], contrast: str = "t1") -> dict:
    return {"contrast": contrast, "reference_ml_left": true_ml[0], "reference_ml_right": true_ml[1],
            "volume_ml_left": predicted_ml[0], "volume_ml_right": predicted_ml[1]}


def test_volumes_pulled_to_the_mean_are_measured_and_told() -> None:
    from scripts.build_model import SHRINKAGE_PREFIX, shrinkage_limitation, volume_shrinkage

    true = [(2.0, 1.8), (3.0, 3.2), (4.0, 4.2), (5.0, 5.2)]
    shrunk = {"cases": [_case(t, (3.5 + 0.5 * (t[0] - 3.5), 3.5 + 0.5 * (t[1] - 3.5))) for t in true]
              + [_case((9.0, 9.0), (0.0, 0.0), "random")]}  # other contrasts do not count
    fit = volume_shrinkage(shrunk)
    assert fit is not None and abs(fit["slope"] - 0.5) < 1e-9 and fit["r"] > 0.999 and fit["n"] == 8
    assert fit["smallest_ml"] == 1.8 and abs(fit["smallest_predicted_ml"] - 2.65) < 1e-9
    [line] = shrinkage_limitation(shrunk)
    assert line.startswith(SHRINKAGE_PREFIX) and "slope of 0.50" in line and "atrophy is understated" in line
    faithful = {"cases": [_case(t, t) for t in true]}
    assert "understated" not in shrinkage_limitation(faithful)[0]
    assert volume_shrinkage({"cases": shrunk["cases"][:2]}) is None and shrinkage_limitation({"cases": []}) == []


def test_volume_errors_name_where_the_voxels_go() -> None:
    from scripts.eval_volume_errors import errors_of

    fs_ids = np.zeros((10, 10, 10), np.int32)
    fs_ids[2:4, 2:4, 2:4] = 17  # left hippocampus, 8 voxels
    fs_ids[4, 2:4, 2:4] = 24  # CSF beside it, 4 voxels
    predicted = np.zeros_like(fs_ids, dtype=np.uint8)
    predicted[2:5, 2:4, 2:4] = 1  # hippocampus plus the CSF
    predicted[2, 2, 2] = 5  # one voxel called ventricle
    r = errors_of(predicted, fs_ids, voxel_ml=0.001)["left"]
    assert r["extra_voxels"] == 4 and r["extra_by_true_label"] == {24: 4}
    assert r["missing_voxels"] == 1 and r["missing_by_predicted_class"] == {5: 1}
    assert r["true_ml"] == pytest.approx(0.008) and r["predicted_ml"] == pytest.approx(0.011)


def test_volume_errors_script_names_a_missing_map(tmp_path: Path) -> None:
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[3]
    done = subprocess.run([sys.executable, str(root / "scripts" / "eval_volume_errors.py"), str(tmp_path), "07"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "training_seg_07.nii.gz" in done.stderr


def test_thick_slice_limitation_compares_the_two_grids():
    from scripts.build_model import THICK_SLICE_PREFIX, thick_slice_limitation

    def row(dice: float, volume: float) -> dict[str, float]:
        return {"dice_left": dice, "dice_right": dice + 0.01, "volume_error_left": volume,
                "volume_error_right": volume}

    evaluation = {"clean": row(0.86, 0.0), "thick_6mm": row(0.75, 0.01), "thick_6mm_fine_grid": row(0.83, 0.06)}
    [line] = thick_slice_limitation(evaluation)
    assert line.startswith(THICK_SLICE_PREFIX)
    assert "Dice 0.75 / 0.76" in line and "scores 0.83 / 0.84" in line and "+6 / +6 % instead of +1 / +1 %" in line
    assert thick_slice_limitation({"clean": row(0.86, 0.0), "thick_6mm": row(0.75, 0.01)}) == []


def test_experiment_script_checks_the_maps_first_and_summarises(tmp_path):
    from scripts.run_structures_experiment import main, summary_lines

    empty = tmp_path / "maps"
    empty.mkdir()
    with pytest.raises(SystemExit) as stop:  # before any model is loaded or trained
        main(["configs/recipe_seg_structures_t1only.yaml", "--label-maps", str(empty), "--out", str(tmp_path / "o")])
    assert str(empty) in str(stop.value) or "label map" in str(stop.value).lower()
    assert not (tmp_path / "o").exists()
    row = {"dice_left": 0.8561, "dice_right": 0.862, "volume_error_left": -0.112, "volume_error_right": -0.05}
    assert summary_lines({"summary": {"t1": row}}, "heldout") == [
        "heldout t1: hippocampus Dice 0.856 / 0.862, volume -11 % / -5 %"]


def test_the_t1_gate_lies_between_the_contrasts_and_the_card_says_so():
    from scripts.build_model import T1_SEGMENTER_PREFIX, gate_from, t1_segmenter_limitation

    correlations = {"t1": [0.64, 0.66, 0.70, 0.72, float("nan")], "random": [-0.1, 0.05, 0.3, 0.36]}
    gate = gate_from(correlations)
    assert 0.36 < gate < 0.64
    assert gate == pytest.approx((np.percentile([0.64, 0.66, 0.70, 0.72], 5)
                                  + np.percentile([-0.1, 0.05, 0.3, 0.36], 95)) / 2, abs=1e-3)
    with pytest.raises(SystemExit, match="no template correlation"):
        gate_from({"t1": [float("nan")], "random": [0.1]})
    row = {"dice_left": 0.871, "dice_right": 0.874, "volume_error_left": -0.06, "volume_error_right": -0.03}
    [line] = t1_segmenter_limitation({"summary": {"t1": row}}, gate)
    assert line.startswith(T1_SEGMENTER_PREFIX) and f"at least {gate:.3f}" in line
    assert "Dice 0.871 / 0.874" in line and "-6 % / -3 %" in line and "--segmenter" in line
    assert t1_segmenter_limitation({"summary": {}}, gate) == []


@pytest.mark.slow  # four registrations
def test_contrast_correlations_of_the_training_maps(map_folder: Path) -> None:
    from volta_core.train.heldout_individual import contrast_correlations

    values = contrast_correlations(default_bundle(), map_folder, seeds=(100,), limit=1)
    assert len(values["t1"]) == 1 and len(values["random"]) == 1
    assert values["t1"][0] > 0.5 > values["random"][0]  # seed 100's random contrast is far from a T1
