"""Model bundles: a folder with ``model.safetensors`` and ``model_card.json``. Never unpickles.

Layout::

    my_model/
      model.safetensors   # state dict of the task model (keys "encoder.*", "decoder.*", "head.*")
      model_card.json     # ModelCard as JSON (format version, architecture, input spec, heads ...)

The card (:mod:`volta_core.contracts.model_card`, torch-free) says everything needed to rebuild the
network and to prepare inputs the way training did: encoder preset + overrides, input
spacing/size/orientation/normalisation, which heads are present and TRAINED, their label names,
the training data and the measured metrics. This module adds the weights: safetensors I/O and
building the network. It is in the model layer: it must not import ``data``, ``train`` or ``io``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from volta_core.contracts.model_card import CARD_FILE, FORMAT_VERSION, BundleError, ModelCard, read_card

WEIGHTS_FILE = "model.safetensors"
#: the optional second segmenter for T1-weighted scans (card ``heads.segmentation.t1_variant``),
#: stored in half precision so that two models fit the bundle's size limit
T1_WEIGHTS_FILE = "segmentation_t1.safetensors"


def save_bundle(path: str | Path, model_state: dict[str, torch.Tensor], card: ModelCard) -> Path:
    """Write a bundle folder (weights and card each written atomically).

    Args:
        path: bundle folder (created).
        model_state: state dict of tensors.
        card: validated before writing.

    Raises:
        BundleError: invalid card or a non-tensor in the state.
    """
    path = Path(path)
    ModelCard.from_dict(card.to_dict())  # validate before touching the disk
    bad = [k for k, v in model_state.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise BundleError(f"model state holds non-tensor entries: {bad[:5]}")
    bad = non_finite_tensors(model_state)
    if bad:
        raise BundleError(f"model state holds NaN or infinite values in {', '.join(bad[:3])}: not saved")
    path.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in model_state.items()}
    _write_safetensors(path / WEIGHTS_FILE, tensors)
    tmp_card = path / f".{CARD_FILE}.tmp"
    try:
        tmp_card.write_text(json.dumps(card.to_dict(), indent=2, sort_keys=False), encoding="utf-8")
        os.replace(tmp_card, path / CARD_FILE)
    finally:  # a full disk must not leave half-written temp files behind
        tmp_card.unlink(missing_ok=True)
    return path


def _write_safetensors(target: Path, tensors: dict[str, torch.Tensor]) -> None:
    """Write ``tensors`` to ``target`` atomically (temp file + rename), readable like the bundle's
    other files: the safetensors writer creates its file 0600, which would hide a bundle copied
    into a shared models folder from the lab's other users."""
    tmp = target.with_name(f".{target.name}.tmp")
    try:
        save_file(tensors, str(tmp), metadata={"format": "pt", "volta_format_version": str(FORMAT_VERSION)})
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
    finally:  # a full disk must not leave half-written temp files behind
        tmp.unlink(missing_ok=True)


def _read_safetensors(weights: Path, damaged_hint: str) -> dict[str, torch.Tensor]:
    """The tensors of a bundle's weights file, refused when missing, damaged or non-finite.

    Raises:
        BundleError: naming the file; ``damaged_hint`` says what to do when its values are broken.
    """
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as exc:
        raise BundleError(f"{weights} is damaged or not a safetensors file: {exc}") from exc
    bad = non_finite_tensors(state)
    if bad:
        raise BundleError(f"{weights} holds NaN or infinite values in {len(bad)} tensor(s) ({', '.join(bad[:3])}): "
                          f"{damaged_hint}")
    return state


def non_finite_tensors(state: dict[str, torch.Tensor]) -> list[str]:
    """Names of the floating-point tensors that hold a NaN or an infinity."""
    return [k for k, v in state.items()
            if (v.is_floating_point() or v.is_complex()) and not bool(torch.isfinite(v).all())]


def load_bundle(path: str | Path) -> tuple[ModelCard, dict[str, torch.Tensor]]:
    """Load a bundle's card and state dict (safetensors only: nothing is unpickled).

    Raises:
        BundleError: missing or damaged files, invalid card, weights inconsistent with the card.
    """
    path = Path(path)
    card = read_card(path)
    weights = path / WEIGHTS_FILE
    if not weights.is_file():
        raise BundleError(f"{path} lacks {WEIGHTS_FILE}")
    state = _read_safetensors(weights, "the model is broken (its training diverged or the file was altered); "
                                       "retrain it or use another bundle")
    if not any(k.startswith("encoder.") for k in state):
        raise BundleError(f"{weights} holds no encoder weights (keys 'encoder.*')")
    model = card.architecture.get("model", "encoder")
    needed = {"segmenter": "decoder.", "classifier": "head.", "multitask": "decoder." if
              card.architecture.get("decoder") else "heads."}.get(model)
    if needed and not any(k.startswith(needed) for k in state):
        raise BundleError(f"card says {model} but {weights} holds no '{needed}*' weights")
    return card, state


def _decoder(encoder: torch.nn.Module, dec: dict[str, Any], num_classes: Any) -> torch.nn.Module:
    """The UNETR decoder a card's ``architecture.decoder`` entry describes, for ``encoder``."""
    from volta_core.model.heads.seg_decoder import UNETRDecoder3D

    pyramid = dec.get("image_pyramid", False)
    if not isinstance(pyramid, bool):
        raise ValueError(f"decoder.image_pyramid must be true or false, got {pyramid!r}")
    return UNETRDecoder3D(encoder.embed_dim, encoder.patch_size, encoder.in_chans, int(num_classes),
                          int(dec.get("feature_size", 16)), tuple(dec.get("tap_layers", encoder.out_indices)),
                          pyramid)


def build_model(card: ModelCard) -> torch.nn.Module:
    """Rebuild the (untrained) network a card describes; load the bundle's state into it.

    Raises:
        BundleError: unknown encoder preset or inconsistent architecture fields.
    """
    from volta_core.model.networks import VoltaClassifier, VoltaSegmenter
    from volta_core.model.heads.classifier import ClassificationHead
    from volta_core.model.vit3d import build_encoder

    arch = card.architecture
    try:
        encoder = build_encoder(arch["encoder"], **arch.get("overrides", {}))
        kind = arch.get("model", "encoder")
        if kind == "segmenter":
            return VoltaSegmenter(encoder, _decoder(encoder, arch.get("decoder", {}), arch.get("num_classes", 3)))
        if kind == "multitask":
            from volta_core.model.networks import VoltaMultiTask

            dec = arch.get("decoder")
            decoder = None if not dec else _decoder(encoder, dec, dec.get("num_classes", 3))
            heads = {name: ClassificationHead(encoder.embed_dim, int(h.get("num_classes", 2)),
                                              bool(h.get("use_patch_mean", True)), h.get("hidden_dim"))
                     for name, h in (arch.get("heads") or {}).items()}
            return VoltaMultiTask(encoder, decoder, heads)
        if kind == "classifier":
            head = arch.get("head", {})
            return VoltaClassifier(encoder, ClassificationHead(
                encoder.embed_dim, int(arch.get("num_classes", 2)), bool(head.get("use_patch_mean", True)),
                head.get("hidden_dim")))
        wrapper = torch.nn.Module()
        wrapper.encoder = encoder
        return wrapper
    except (KeyError, TypeError, ValueError) as exc:
        raise BundleError(f"model card architecture cannot be built: {exc}") from exc


def t1_variant_info(card: ModelCard) -> dict[str, Any] | None:
    """The card's ``heads.segmentation.t1_variant`` entry, checked, or None when the bundle has none.

    Raises:
        BundleError: the entry is not an object with a ``min_template_correlation`` in [-1, 1].
    """
    variant = card.heads.get("segmentation", {}).get("t1_variant")
    if variant is None:
        return None
    gate = variant.get("min_template_correlation") if isinstance(variant, dict) else None
    if not isinstance(gate, (int, float)) or isinstance(gate, bool) or not -1.0 <= gate <= 1.0:
        raise BundleError("model card heads.segmentation.t1_variant needs a min_template_correlation between -1 "
                          "and 1. The bundle's model_card.json is damaged or was edited.")
    if card.architecture.get("model") not in ("segmenter", "multitask") or card.segmentation_classes < 2:
        raise BundleError("model card heads.segmentation.t1_variant needs a model with a segmentation decoder")
    return variant


def save_t1_segmenter(path: str | Path, state: dict[str, torch.Tensor]) -> Path:
    """Write the encoder and decoder of ``state`` (a segmenter's state dict) as the bundle's T1
    segmenter, in half precision, atomically. The card entry is the caller's (``t1_variant``).

    Raises:
        BundleError: no decoder weights, or NaN / infinite values.
    """
    kept = {k: v.detach().cpu().to(torch.float16 if v.is_floating_point() else v.dtype).contiguous().clone()
            for k, v in state.items() if k.startswith(("encoder.", "decoder."))}
    if not any(k.startswith("decoder.") for k in kept):
        raise BundleError("a T1 segmenter needs decoder weights (keys 'decoder.*')")
    bad = non_finite_tensors(kept)
    if bad:
        raise BundleError(f"T1 segmenter holds NaN or infinite values in {', '.join(bad[:3])}: not saved")
    target = Path(path) / T1_WEIGHTS_FILE
    _write_safetensors(target, kept)
    return target


def load_t1_segmenter(path: str | Path, card: ModelCard) -> torch.nn.Module | None:
    """The bundle's T1 segmenter (encoder + decoder of the card's architecture, float32, eval
    mode), or None when the card names none.

    Raises:
        BundleError: the card names one but its file is missing, damaged or does not fit.
    """
    if t1_variant_info(card) is None:
        return None
    from volta_core.model.networks import VoltaSegmenter
    from volta_core.model.vit3d import build_encoder

    weights = Path(path) / T1_WEIGHTS_FILE
    if not weights.is_file():
        raise BundleError(f"the model card names a T1 segmenter but {weights} is missing; reinstall the bundle")
    state = {k: v.float() for k, v in _read_safetensors(weights, "reinstall the bundle").items()}
    arch = card.architecture
    try:
        encoder = build_encoder(arch["encoder"], **arch.get("overrides", {}))
        dec = arch.get("decoder") or {}
        model = VoltaSegmenter(encoder, _decoder(encoder, dec, card.segmentation_classes))
        model.load_state_dict(state, strict=True)
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise BundleError(f"the T1 segmenter in {weights} does not fit the architecture in the card: {exc}") from exc
    return model.eval()


def load_model(path: str | Path) -> tuple[ModelCard, torch.nn.Module]:
    """Card and ready network (weights loaded, eval mode) of a bundle.

    Raises:
        BundleError: as :func:`load_bundle`, or weights that do not fit the architecture.
    """
    card, state = load_bundle(path)
    model = build_model(card)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise BundleError(f"weights in {path} do not fit the architecture in its card: {exc}") from exc
    return card, model.eval()
