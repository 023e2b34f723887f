"""Optimiser parameter groups with layer-wise lr decay, and encoder freezing."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from torch import nn

from volta_core.model.vit3d import VisionTransformer3D

__all__ = ["freeze_encoder", "param_groups_lrd", "find_encoder", "layer_id"]

_EMBED_NAMES = ("patch_embed", "cls_token", "pos_embed", "mask_token")


def find_encoder(model: nn.Module) -> tuple[str, VisionTransformer3D]:
    """First :class:`VisionTransformer3D` in ``model`` and its name prefix ("" if model is one).

    Raises:
        ValueError: No encoder inside ``model``.
    """
    for name, module in model.named_modules():
        if isinstance(module, VisionTransformer3D):
            return (name + "." if name else ""), module
    raise ValueError(f"{type(model).__name__} contains no VisionTransformer3D encoder.")


def freeze_encoder(model: nn.Module, freeze: bool = True) -> nn.Module:
    """Set ``requires_grad = not freeze`` on every encoder parameter (heads untouched).

    Args:
        model: A model containing a :class:`VisionTransformer3D` (or the encoder itself).
        freeze: True to freeze, False to unfreeze.

    Returns:
        ``model`` (for chaining).
    """
    _, encoder = find_encoder(model)
    for p in encoder.parameters():
        p.requires_grad_(not freeze)
    return model


def layer_id(name: str, prefix: str, depth: int) -> int:
    """Layer index for lr decay: embeddings 0, block i -> i + 1, everything else depth + 1.

    Args:
        name: Full parameter name in the model.
        prefix: Encoder prefix (e.g. ``"encoder."``).
        depth: Encoder depth.
    """
    if not name.startswith(prefix):
        return depth + 1
    rel = name[len(prefix):]
    if rel.startswith(_EMBED_NAMES):
        return 0
    if rel.startswith("blocks."):
        return int(rel.split(".")[1]) + 1
    return depth + 1


def param_groups_lrd(
    model: nn.Module,
    base_lr: float,
    weight_decay: float = 0.05,
    layer_decay: float = 0.75,
    no_weight_decay_names: Iterable[str] | None = None,
) -> list[dict[str, Any]]:
    """Parameter groups with layer-wise learning-rate decay (BEiT / MAE style).

    Layer ``l`` in ``0..depth+1`` (embeddings 0, block i -> i+1, final norm and heads
    depth+1) gets ``lr = base_lr * layer_decay ** (depth + 1 - l)``. Biases, norms and
    1-D parameters, the encoder's ``no_weight_decay()`` names and
    ``no_weight_decay_names`` get weight decay 0. Frozen parameters are skipped.

    Each group also carries ``lr_scale`` and ``wd_scale`` (0 or 1) so a per-iteration
    scheduler can set ``g["lr"] = lr_t * g["lr_scale"]`` and
    ``g["weight_decay"] = wd_t * g["wd_scale"]``, plus ``layer_id`` and ``param_names``.

    Args:
        model: Model containing a :class:`VisionTransformer3D`.
        base_lr: Learning rate of the top layer (heads).
        weight_decay: Weight decay of decayed parameters.
        layer_decay: Per-layer lr multiplier in (0, 1]; 1 disables the decay.
        no_weight_decay_names: Extra parameter names (full, or relative to the encoder) without decay.

    Returns:
        A list of dicts accepted by ``torch.optim`` optimisers.

    Raises:
        ValueError: ``layer_decay`` outside (0, 1] or negative lr / wd.
    """
    if not 0.0 < layer_decay <= 1.0:
        raise ValueError(f"layer_decay must be in (0, 1], got {layer_decay}.")
    if base_lr < 0 or weight_decay < 0:
        raise ValueError(f"base_lr and weight_decay must be >= 0, got {base_lr}, {weight_decay}.")
    prefix, encoder = find_encoder(model)
    skip = set(no_weight_decay_names or ()) | {prefix + n for n in encoder.no_weight_decay()}
    top = encoder.depth + 1
    groups: dict[tuple[int, bool], dict[str, Any]] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        lid = layer_id(name, prefix, encoder.depth)
        decay = not (param.ndim <= 1 or name in skip or name.endswith(".bias")
                     or name[len(prefix):] in skip)
        key = (lid, decay)
        if key not in groups:
            scale = layer_decay ** (top - lid)
            groups[key] = dict(
                params=[], param_names=[], layer_id=lid, lr_scale=scale, wd_scale=float(decay),
                lr=base_lr * scale, weight_decay=weight_decay if decay else 0.0,
            )
        groups[key]["params"].append(param)
        groups[key]["param_names"].append(name)
    return [groups[k] for k in sorted(groups)]
