"""A structures model's own mask (hippocampus 1/2, amygdala 3/4, inferior lateral ventricle 5/6)
loads back as a hippocampus reference; other multi-label maps are still refused (Qt-free)."""

from __future__ import annotations

import numpy as np
import pytest

from app.state.label_conventions import APP, UnknownLabelConvention, classify_label_map, to_hippocampus_labels


def test_a_structures_mask_reads_as_this_apps_hippocampus_labels() -> None:
    labels = np.arange(7, dtype=np.int32).reshape(7, 1, 1).repeat(2, axis=1)
    kind = classify_label_map(np.unique(labels))
    assert kind.convention == APP and kind.values == (1, 2, 3, 4, 5, 6)
    hippocampus = to_hippocampus_labels(labels, kind, np.eye(4))
    assert hippocampus[:, 0, 0].tolist() == [0, 1, 2, 0, 0, 0, 0]  # amygdala and ventricle are not hippocampus
    # a file that names its labels as this app does may lack a side or the hippocampus altogether
    assert classify_label_map((0, 1, 3, 5), app_labels=True).convention == APP


@pytest.mark.parametrize("values", [(3, 4), (1, 7), (1, 2, 9)])
def test_other_multi_label_maps_are_refused(values: tuple[int, ...]) -> None:
    with pytest.raises(UnknownLabelConvention):
        classify_label_map(values)
