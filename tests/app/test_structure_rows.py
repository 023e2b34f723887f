"""A model that also segments amygdala and inferior lateral ventricle: the Results rows give their
volumes and HOC, corrections update them, and the overlay has a colour for every class."""

from __future__ import annotations

import numpy as np

from app.state.display_grid import display_index
from app.state.layers import DEFAULT_COLORS
from app.state.results import corrected_prediction, result_rows
from app.state.segmentation import Segmentation


def _seven_class_segmentation() -> Segmentation:
    from volta_core.contracts.prediction import (
        ClassResult,
        ModelInfo,
        Prediction,
        QualityReport,
        hippocampal_occupancy,
        label_names_for,
        label_volumes_ml,
    )
    from volta_core.io import Volume, canonical_ras

    shape = (12, 10, 8)
    labels = np.zeros(shape, np.uint8)
    labels[0, :4, 0] = 1  # 4 voxels of 1 mm^3
    labels[1, :3, 0] = 2
    labels[2, :2, 0] = 3
    labels[3, :2, 0] = 4
    labels[4, :1, 0] = 5
    labels[5, :3, 0] = 6
    volume = Volume(np.zeros(shape, np.float32), np.eye(4))
    display = canonical_ras(volume)
    volumes = label_volumes_ml(labels, volume.affine, 7)
    prediction = Prediction(
        labels=labels, probabilities=np.zeros((7, *shape), np.float16), affine=volume.affine,
        volumes_ml=volumes, icv_ml=1400.0, relative_volumes=None, asymmetry_index=0.3,
        classification={"sex": ClassResult("sex", False, None, "M"), "ad": ClassResult("ad", False, None, "AD")},
        quality=QualityReport(0.5, True, 0.8, 0.2, ()), model=ModelInfo("demo", "2026-01-01", "v1", "/b"),
        device="CPU", scan="s", label_names=label_names_for(7), hoc=hippocampal_occupancy(volumes))
    return Segmentation("demo", labels, volume.affine, display_index(volume, display.affine, display.shape), prediction)


def test_rows_give_structure_volumes_and_hoc() -> None:
    seg = _seven_class_segmentation()
    rows = dict(result_rows(seg).measures)
    assert rows["Left amygdala"] == "0.002 mL" and rows["Right inferior lateral ventricle"] == "0.003 mL"
    assert rows["HOC"] == "left 0.80, right 0.50"  # 4 / (4 + 1), 3 / (3 + 3)
    assert corrected_prediction(seg).hoc == {"left": 0.8, "right": 0.5}


def test_a_correction_updates_hoc() -> None:
    seg = _seven_class_segmentation()
    labels = seg.labels.copy()
    labels[5, :3, 0] = 0  # the right temporal horn erased
    seg.labels[...] = labels
    rows = dict(result_rows(seg).measures)
    assert rows["Right inferior lateral ventricle"] == "0.000 mL"
    assert rows["HOC"] == "left 0.80, right 1.00"


def test_every_class_has_an_overlay_colour() -> None:
    assert set(DEFAULT_COLORS) == {1, 2, 3, 4, 5, 6}


def test_the_model_row_says_which_segmenter_drew_the_masks() -> None:
    from dataclasses import replace

    seg = _seven_class_segmentation()
    assert "segmenter" not in result_rows(seg).model  # a bundle with one segmenter
    info = seg.prediction.model
    seg.prediction = replace(seg.prediction, model=replace(info, segmenter="t1 (template correlation 0.712 >= 0.466)"))
    assert result_rows(seg).model.endswith("; masks by its T1 segmenter (template correlation 0.712 >= 0.466)")
    seg.prediction = replace(seg.prediction, model=replace(info, segmenter="general (chosen by the user)"))
    assert result_rows(seg).model.endswith("; masks by its general segmenter (chosen by the user)")
