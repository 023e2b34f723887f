"""Heads on the 3D ViT: SSL projection, UNETR segmentation, classification, reconstruction."""

from __future__ import annotations

from volta_core.model.heads.classifier import ClassificationHead
from volta_core.model.heads.dino_head import DINOHead, WeightNormLinear
from volta_core.model.heads.recon_decoder import ReconstructionDecoder3D
from volta_core.model.heads.seg_decoder import ConvBlock3D, UNETRDecoder3D

__all__ = [
    "ClassificationHead",
    "ConvBlock3D",
    "DINOHead",
    "ReconstructionDecoder3D",
    "UNETRDecoder3D",
    "WeightNormLinear",
]
