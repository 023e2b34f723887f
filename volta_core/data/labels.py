"""Normalise sex and diagnosis spellings found in real ``participants.tsv`` / manifests.

Canonical values: sex ``"M"`` / ``"F"``; diagnosis ``"CN"`` (cognitively normal / control),
``"AD"`` (Alzheimer's disease / dementia) and ``"MCI"`` (known, but not part of the binary AD
task). Numeric sex codes follow the ADNI convention (1 = male, 2 = female). Missing values
(empty, ``n/a``, ``NA``, ``nan``) give ``None``; anything else raises :class:`UnknownLabelError`
so that dataset validation can report it.
"""

from __future__ import annotations

import re

MISSING = {"", "n/a", "na", "nan", "none", "null", "-", "?", "unknown"}

_SEX = {
    "m": "M", "male": "M", "man": "M", "1": "M", "1.0": "M",
    "f": "F", "female": "F", "woman": "F", "2": "F", "2.0": "F",
}

_DIAGNOSIS = {
    "ad": "AD", "alzheimer": "AD", "alzheimers": "AD", "alzheimer's": "AD",
    "alzheimers disease": "AD", "alzheimer's disease": "AD", "alzheimer disease": "AD",
    "dementia": "AD", "probable ad": "AD", "dat": "AD",
    "cn": "CN", "hc": "CN", "nc": "CN", "control": "CN", "controls": "CN", "healthy": "CN",
    "healthy control": "CN", "normal": "CN", "normal control": "CN", "cognitively normal": "CN",
    "ctrl": "CN", "con": "CN",
    "mci": "MCI", "emci": "MCI", "lmci": "MCI", "smc": "MCI",
    "mild cognitive impairment": "MCI",
}

LABEL_NAMES = {"sex": ["F", "M"], "ad": ["CN", "AD"]}
"""Class order of the classification tasks: index = class id."""


class UnknownLabelError(ValueError):
    """A sex or diagnosis value that none of the known spellings matches."""


def _key(value: object) -> str:
    text = str(value).strip().lower().replace("_", " ").replace("-", " ")
    text = text.replace("\u2019", "'")
    return re.sub(r"\s+", " ", text)


def is_missing(value: object) -> bool:
    """True for empty / ``n/a`` style values."""
    return value is None or _key(value) in MISSING


def normalise_sex(value: object) -> str | None:
    """Map a sex spelling to ``"M"`` / ``"F"`` (``None`` when missing).

    Raises:
        UnknownLabelError: the value is present but not a known spelling.
    """
    if is_missing(value):
        return None
    key = _key(value)
    if key in _SEX:
        return _SEX[key]
    raise UnknownLabelError(f"unknown sex value {value!r} (expected M/F, male/female, 1/2)")


def normalise_diagnosis(value: object) -> str | None:
    """Map a diagnosis spelling to ``"CN"`` / ``"AD"`` / ``"MCI"`` (``None`` when missing).

    Raises:
        UnknownLabelError: the value is present but not a known spelling.
    """
    if is_missing(value):
        return None
    key = _key(value)
    if key in _DIAGNOSIS:
        return _DIAGNOSIS[key]
    raise UnknownLabelError(
        f"unknown diagnosis value {value!r} (expected AD/dementia/Alzheimer's, CN/HC/NC/control, MCI)")
