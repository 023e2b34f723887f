from __future__ import annotations

import pytest

from volta_core.data.labels import UnknownLabelError, normalise_diagnosis, normalise_sex


@pytest.mark.parametrize("raw,expected", [
    ("M", "M"), ("m", "M"), ("male", "M"), ("Male", "M"), (" MALE ", "M"), ("1", "M"), ("1.0", "M"),
    ("F", "F"), ("f", "F"), ("female", "F"), ("Female", "F"), ("2", "F"), ("woman", "F"),
    ("", None), ("n/a", None), ("NA", None), (None, None),
])
def test_sex_spellings(raw, expected):
    assert normalise_sex(raw) == expected


@pytest.mark.parametrize("raw,expected", [
    ("AD", "AD"), ("ad", "AD"), ("Alzheimer's", "AD"), ("Alzheimers", "AD"), ("alzheimer\u2019s disease", "AD"),
    ("dementia", "AD"), ("Dementia", "AD"),
    ("CN", "CN"), ("HC", "CN"), ("NC", "CN"), ("control", "CN"), ("Control", "CN"), ("healthy_control", "CN"),
    ("MCI", "MCI"), ("LMCI", "MCI"), ("n/a", None), ("", None),
])
def test_diagnosis_spellings(raw, expected):
    assert normalise_diagnosis(raw) == expected


@pytest.mark.parametrize("fn,raw", [(normalise_sex, "X"), (normalise_sex, "3"), (normalise_diagnosis, "PD"),
                                    (normalise_diagnosis, "schizophrenia")])
def test_unknown_values_raise(fn, raw):
    with pytest.raises(UnknownLabelError, match=repr(raw)):
        fn(raw)
