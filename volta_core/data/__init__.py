"""Datasets (BIDS, CSV manifest), validation, sample preparation, augmentations, views, masking."""

from __future__ import annotations

from volta_core.data.labels import LABEL_NAMES, UnknownLabelError, normalise_diagnosis, normalise_sex
from volta_core.data.manifest import ManifestError, index_dataset
from volta_core.data.prepare import PreparedSample, prepare_sample
from volta_core.data.records import IndexedDataset, SampleRecord
from volta_core.data.validate import Problem, ValidationReport, validate_dataset

__all__ = [
    "LABEL_NAMES", "IndexedDataset", "ManifestError", "PreparedSample", "Problem", "SampleRecord",
    "UnknownLabelError", "ValidationReport", "index_dataset", "normalise_diagnosis", "normalise_sex",
    "prepare_sample", "validate_dataset",
]
