"""Inference: load a model bundle, run a scan end to end, return named outputs on its own grid."""

from __future__ import annotations

from volta_core.infer.prediction import ClassResult, ModelInfo, Prediction, QualityReport
from volta_core.infer.predictor import PredictionCancelled, PredictionError, Predictor

__all__ = ["ClassResult", "ModelInfo", "Prediction", "PredictionCancelled", "PredictionError", "Predictor",
           "QualityReport"]
