"""Inference: load a model bundle, run a scan end to end, return named outputs on its own grid.

The names below are imported on first use (PEP 562): ``volta predict --help`` and the results
store must not pay for torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from volta_core.contracts.prediction import ClassResult, ModelInfo, Prediction, QualityReport
    from volta_core.infer.predictor import PredictionCancelled, PredictionError, Predictor

_WHERE = {
    "ClassResult": "volta_core.contracts.prediction", "ModelInfo": "volta_core.contracts.prediction",
    "Prediction": "volta_core.contracts.prediction", "QualityReport": "volta_core.contracts.prediction",
    "PredictionCancelled": "volta_core.infer.predictor", "PredictionError": "volta_core.infer.predictor",
    "Predictor": "volta_core.infer.predictor",
}

__all__ = ["ClassResult", "ModelInfo", "Prediction", "PredictionCancelled", "PredictionError", "Predictor",
           "QualityReport"]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'volta_core.infer' has no attribute {name!r}")
