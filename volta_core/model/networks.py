"""Fine-tuning models: encoder + task head, each returning a dict of named outputs."""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from volta_core.model.heads.classifier import ClassificationHead
from volta_core.model.heads.seg_decoder import UNETRDecoder3D
from volta_core.model.vit3d import EncoderOutput, VisionTransformer3D, build_encoder

__all__ = ["VoltaSegmenter", "VoltaClassifier", "VoltaMultiTask", "build_segmenter", "build_classifier"]


class VoltaSegmenter(nn.Module):
    """ViT encoder + UNETR decoder.

    Args:
        encoder: The 3D ViT (its ``patch_size`` must match the decoder's).
        decoder: A :class:`UNETRDecoder3D` whose ``tap_layers`` lie in ``1..encoder.depth``.

    Raises:
        ValueError: Mismatched patch size, width or tap layers.
    """

    def __init__(self, encoder: VisionTransformer3D, decoder: UNETRDecoder3D) -> None:
        super().__init__()
        if decoder.patch_size != encoder.patch_size or decoder.encoder_dim != encoder.embed_dim:
            raise ValueError(
                f"decoder (patch {decoder.patch_size}, dim {decoder.encoder_dim}) does not fit the "
                f"encoder (patch {encoder.patch_size}, dim {encoder.embed_dim})."
            )
        if max(decoder.tap_layers) > encoder.depth or min(decoder.tap_layers) < 1:
            raise ValueError(f"tap_layers {decoder.tap_layers} outside 1..{encoder.depth}.")
        self.encoder = encoder
        self.decoder = decoder

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        """Segment a volume.

        Args:
            x: ``(B, C, D, H, W)``, sides divisible by the patch size.

        Returns:
            ``{"logits": (B, num_classes, D, H, W)}``.
        """
        return self.forward_with_features(x)[1]

    def forward_with_features(self, x: Tensor) -> tuple[EncoderOutput, dict[str, Tensor]]:
        """The encoder's outputs (class and patch tokens: what OOD statistics pool) and
        :meth:`forward`'s, from one encoder pass."""
        feats = self.encoder(x, return_layers=self.decoder.tap_layers)
        return feats, {"logits": self.decoder(x, feats)}


class VoltaClassifier(nn.Module):
    """ViT encoder + classification head.

    Args:
        encoder: The 3D ViT.
        head: A :class:`ClassificationHead` with ``embed_dim == encoder.embed_dim``.
    """

    def __init__(self, encoder: VisionTransformer3D, head: ClassificationHead) -> None:
        super().__init__()
        if head.embed_dim != encoder.embed_dim:
            raise ValueError(f"head embed_dim {head.embed_dim} != encoder embed_dim {encoder.embed_dim}.")
        self.encoder = encoder
        self.head = head

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        """Classify a volume.

        Args:
            x: ``(B, C, D, H, W)``.

        Returns:
            ``{"logits": (B, num_classes)}``.
        """
        return self.forward_with_features(x)[1]

    def forward_with_features(self, x: Tensor) -> tuple[EncoderOutput, dict[str, Tensor]]:
        """The encoder's outputs and :meth:`forward`'s, from one encoder pass."""
        feats = self.encoder(x, return_layers=())
        return feats, {"logits": self.head(feats.cls_token, feats.patch_tokens)}


class VoltaMultiTask(nn.Module):
    """One encoder with a segmentation decoder and/or named classification heads (``sex``, ``ad``).

    What a fine-tune writes when it keeps the starting model's other trained heads: one encoder
    pass feeds every head. State keys: ``encoder.*``, ``decoder.*``, ``heads.<name>.*``.

    Args:
        encoder: The 3D ViT.
        decoder: A :class:`UNETRDecoder3D` or ``None``.
        heads: head name -> :class:`ClassificationHead`.
    """

    def __init__(self, encoder: VisionTransformer3D, decoder: UNETRDecoder3D | None,
                 heads: dict[str, ClassificationHead]) -> None:
        super().__init__()
        if decoder is None and not heads:
            raise ValueError("a multi-task model needs a decoder or at least one classification head.")
        if decoder is not None:
            VoltaSegmenter(encoder, decoder)  # the same checks
        for name, head in heads.items():
            if head.embed_dim != encoder.embed_dim:
                raise ValueError(f"head {name}: embed_dim {head.embed_dim} != encoder embed_dim {encoder.embed_dim}.")
        self.encoder = encoder
        self.decoder = decoder
        self.heads = nn.ModuleDict(heads)

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        """Run every head on one encoding.

        Args:
            x: ``(B, C, D, H, W)``.

        Returns:
            ``{"seg_logits": (B, K, D, H, W)}`` if there is a decoder, and ``{"<name>_logits": (B, 2)}``
            per classification head.
        """
        return self.forward_with_features(x)[1]

    def forward_with_features(self, x: Tensor) -> tuple[EncoderOutput, dict[str, Tensor]]:
        """The encoder's outputs and :meth:`forward`'s, from one encoder pass."""
        taps = self.decoder.tap_layers if self.decoder is not None else ()
        feats = self.encoder(x, return_layers=taps)
        out = {f"{name}_logits": head(feats.cls_token, feats.patch_tokens) for name, head in self.heads.items()}
        if self.decoder is not None:
            out["seg_logits"] = self.decoder(x, feats)
        return feats, out


def build_segmenter(
    encoder: str | VisionTransformer3D = "vit3d_tiny",
    num_classes: int = 3,
    feature_size: int = 16,
    image_pyramid: bool = False,
    **encoder_overrides: Any,
) -> VoltaSegmenter:
    """Encoder (preset name or module) + UNETR decoder tapping the encoder's ``out_indices``.

    Args:
        encoder: Preset name (see ``ENCODERS.names()``) or a built encoder.
        num_classes: Segmentation classes.
        feature_size: Decoder full-resolution channels.
        image_pyramid: Decoder image features at every level (:class:`UNETRDecoder3D`).
        **encoder_overrides: Passed to the preset when ``encoder`` is a name.
    """
    enc = build_encoder(encoder, **encoder_overrides) if isinstance(encoder, str) else encoder
    k = enc.patch_size.bit_length() - 1
    if len(enc.out_indices) < k:
        raise ValueError(
            f"encoder out_indices {enc.out_indices} has fewer than the {k} taps patch {enc.patch_size} needs."
        )
    taps = enc.out_indices[-k:]  # the deepest k tapped blocks
    dec = UNETRDecoder3D(enc.embed_dim, enc.patch_size, enc.in_chans, num_classes, feature_size, taps,
                         image_pyramid)
    return VoltaSegmenter(enc, dec)


def build_classifier(
    encoder: str | VisionTransformer3D = "vit3d_tiny",
    num_classes: int = 2,
    use_patch_mean: bool = True,
    hidden_dim: int | None = None,
    dropout: float = 0.0,
    **encoder_overrides: Any,
) -> VoltaClassifier:
    """Encoder (preset name or module) + :class:`ClassificationHead`."""
    enc = build_encoder(encoder, **encoder_overrides) if isinstance(encoder, str) else encoder
    head = ClassificationHead(enc.embed_dim, num_classes, use_patch_mean, hidden_dim, dropout)
    return VoltaClassifier(enc, head)
