"""Out-of-distribution score: how unlike the training scans a scan's encoder features are.

A bundle may carry ``ood_stats.safetensors`` with the mean and variance of the training scans'
pooled encoder features (class token and mean patch token) and the 95th percentile of their own
scores. The score of a new scan is its mean squared z-score over feature dimensions divided by
that percentile: 1.0 = as unusual as the most unusual 5 % of training scans.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

OOD_FILE = "ood_stats.safetensors"


@dataclass(frozen=True)
class FeatureStats:
    mean: torch.Tensor  # (F,)
    var: torch.Tensor   # (F,)
    reference: float    # 95th percentile of the training scans' raw scores

    def raw_score(self, features: torch.Tensor) -> torch.Tensor:
        """Mean squared z-score per row. features: (B, F) -> (B,)."""
        z2 = (features.float() - self.mean) ** 2 / self.var.clamp_min(1e-6)
        return z2.mean(dim=-1)

    def score(self, features: torch.Tensor) -> torch.Tensor:
        return self.raw_score(features) / max(self.reference, 1e-6)


def pooled_features(cls_token: torch.Tensor, patch_tokens: torch.Tensor) -> torch.Tensor:
    """(B, D), (B, N, D) -> (B, 2D): the features the OOD statistics describe."""
    return torch.cat([cls_token, patch_tokens.mean(dim=1)], dim=-1)


def fit_feature_stats(features: torch.Tensor) -> FeatureStats:
    """Statistics of training features (B, F); needs at least 2 scans."""
    if features.ndim != 2 or features.shape[0] < 2:
        raise ValueError(f"need features of shape (B >= 2, F), got {tuple(features.shape)}")
    features = features.float()
    stats = FeatureStats(features.mean(0), features.var(0, unbiased=True), 1.0)
    raw = stats.raw_score(features)
    return FeatureStats(stats.mean, stats.var, float(torch.quantile(raw, 0.95)))


def save_feature_stats(bundle_dir: str | Path, stats: FeatureStats) -> Path:
    path = Path(bundle_dir) / OOD_FILE
    save_file({"mean": stats.mean.contiguous(), "var": stats.var.contiguous(),
               "reference": torch.tensor([stats.reference])}, str(path))
    return path


def load_feature_stats(bundle_dir: str | Path) -> FeatureStats | None:
    path = Path(bundle_dir) / OOD_FILE
    if not path.is_file():
        return None
    tensors = load_file(str(path))
    return FeatureStats(tensors["mean"], tensors["var"], float(tensors["reference"][0]))
