"""VolTA-3D model code: the 3D ViT encoder, heads, fine-tuning networks and SSL machinery.

Imports only torch and ``volta_core.registry`` (never data, train, infer or io).
"""

from __future__ import annotations

from volta_core.model.heads import (
    ClassificationHead,
    DINOHead,
    ReconstructionDecoder3D,
    UNETRDecoder3D,
)
from volta_core.model.networks import VoltaClassifier, VoltaSegmenter, build_classifier, build_segmenter
from volta_core.model.optim_groups import freeze_encoder, param_groups_lrd
from volta_core.model.patches import grid_size, patchify, token_mask_to_voxel_mask, unpatchify
from volta_core.model.ssl import (
    CosineScheduler,
    DINOClsTokenLoss,
    IBOTPatchLoss,
    NonFiniteLossError,
    ReconstructionLoss,
    VoltaSSL,
    VoltaSSLConfig,
)
from volta_core.model.vit3d import (
    ENCODER_PRESETS,
    EncoderOutput,
    VisionTransformer3D,
    build_encoder,
)

__all__ = [
    "ENCODER_PRESETS",
    "ClassificationHead",
    "CosineScheduler",
    "DINOClsTokenLoss",
    "DINOHead",
    "EncoderOutput",
    "IBOTPatchLoss",
    "NonFiniteLossError",
    "ReconstructionDecoder3D",
    "ReconstructionLoss",
    "UNETRDecoder3D",
    "VisionTransformer3D",
    "VoltaClassifier",
    "VoltaSSL",
    "VoltaSSLConfig",
    "VoltaSegmenter",
    "build_classifier",
    "build_encoder",
    "build_segmenter",
    "freeze_encoder",
    "grid_size",
    "param_groups_lrd",
    "patchify",
    "token_mask_to_voxel_mask",
    "unpatchify",
]
