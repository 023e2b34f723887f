"""Self-supervised pretraining: one loss per file, the meta-architecture, schedules."""

from __future__ import annotations

from volta_core.model.ssl.dino_clstoken_loss import DINOClsTokenLoss
from volta_core.model.ssl.ibot_patch_loss import IBOTPatchLoss
from volta_core.model.ssl.reconstruction_loss import ReconstructionLoss
from volta_core.model.ssl.schedules import CosineScheduler
from volta_core.model.ssl.volta_meta_arch import NonFiniteLossError, VoltaSSL, VoltaSSLConfig

__all__ = [
    "CosineScheduler",
    "DINOClsTokenLoss",
    "IBOTPatchLoss",
    "NonFiniteLossError",
    "ReconstructionLoss",
    "VoltaSSL",
    "VoltaSSLConfig",
]
