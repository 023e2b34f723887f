"""Build fine-tuning networks from a config and initialise them from pretrained weights."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

from volta_core.config import FinetuneConfig, init_card, init_settings
from volta_core.data.prepare import size3
from volta_core.model.bundle import DEFAULT_LABELS, BundleError, load_bundle
from volta_core.model.networks import build_classifier, build_segmenter
from volta_core.model.patches import grid_size
from volta_core.model.vit3d import build_encoder, resize_pos_embed
from volta_core.train.checkpoint import load_checkpoint
from volta_core.train.run_folder import RunFolder

HEAD_OF_TASK = {"seg": "segmentation", "sex": "sex", "ad": "ad"}


class InitError(ValueError):
    """Pretrained weights cannot initialise this model (wrong file or architecture)."""


def build_task_model(cfg: FinetuneConfig) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The task network and its card ``architecture`` entry."""
    overrides = {"img_size": list(size3(cfg.data.size)), **cfg.model.overrides}
    encoder = build_encoder(cfg.model.encoder, **overrides)
    arch: dict[str, Any] = {"encoder": cfg.model.encoder, "overrides": dict(encoder.config)}
    if cfg.task == "seg":
        model = build_segmenter(encoder, num_classes=3, feature_size=cfg.seg_feature_size)
        arch.update(model="segmenter", num_classes=3,
                    decoder={"feature_size": cfg.seg_feature_size, "tap_layers": list(model.decoder.tap_layers)})
    else:
        model = build_classifier(encoder, num_classes=2)
        arch.update(model="classifier", num_classes=2, head={"use_patch_mean": True, "hidden_dim": None})
    return model, arch


def pretrained_encoder_state(path: str | Path) -> dict[str, torch.Tensor]:
    """Encoder weights (keys relative to the encoder) from a bundle or a pretraining run folder.

    A pretraining run contributes its EMA teacher encoder (``teacher.encoder.*``).

    Raises:
        InitError: nothing usable at ``path``.
    """
    path = Path(path)
    if (path / "model_card.json").is_file():
        try:
            _, state = load_bundle(path)
        except BundleError as exc:
            raise InitError(str(exc)) from exc
        prefix = "encoder."
    elif RunFolder(path).bundle.joinpath("model_card.json").is_file():
        return pretrained_encoder_state(RunFolder(path).bundle)
    elif RunFolder(path).checkpoint.is_file():
        state = load_checkpoint(RunFolder(path).checkpoint)["model"]
        prefix = "teacher.encoder."
    else:
        raise InitError(f"{path} is neither a model bundle nor a pretraining run folder")
    enc = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    if not enc:
        raise InitError(f"{path} holds no encoder weights")
    return enc


def init_encoder(model: torch.nn.Module, path: str | Path) -> int:
    """Copy pretrained encoder weights into ``model.encoder``; returns the tensor count.

    Raises:
        InitError: missing keys or shape mismatch (e.g. another preset).
    """
    return load_pretrained_encoder(model.encoder, path)  # type: ignore[arg-type]


def load_pretrained_encoder(encoder: torch.nn.Module, path: str | Path) -> int:
    """Copy pretrained encoder weights into ``encoder``; another input grid is interpolated.

    Raises:
        InitError: missing keys or shape mismatch (e.g. another preset).
    """
    state = pretrained_encoder_state(path)
    own = encoder.state_dict()
    if "pos_embed" in state and state["pos_embed"].shape != own["pos_embed"].shape:
        source = pretrained_grid(path, int(encoder.patch_size))
        if source is not None and state["pos_embed"].shape[1] == 1 + math.prod(source):
            # another input grid: the learned positions are resized, as at inference (vit3d.resize_pos_embed)
            state = {**state, "pos_embed": resize_pos_embed(state["pos_embed"], source, tuple(encoder.grid_size))}
    missing = sorted(set(own) - set(state))
    bad = sorted(k for k in own if k in state and state[k].shape != own[k].shape)
    if missing or bad:
        raise InitError(f"pretrained encoder at {path} does not fit: missing {missing[:5]}, shape mismatch "
                        f"{[(k, tuple(state[k].shape), tuple(own[k].shape)) for k in bad[:3]]}; use the same "
                        "encoder preset, overrides and data.size as the pretraining run")
    encoder.load_state_dict({k: state[k] for k in own})
    return len(own)


def pretrained_grid(path: str | Path, patch_size: int) -> tuple[int, int, int] | None:
    """The token grid the starting model's positional embedding was learned for (from its card or config)."""
    card = init_card(path)
    size = ((card.get("architecture") or {}).get("overrides") or {}).get("img_size") if card else None
    if size is None:
        size = (card.get("input") or {}).get("size") if card else init_settings(path).get("data.size")
    if size is None:
        return None
    try:
        return grid_size(size3(size), patch_size)
    except ValueError:
        return None


def card_heads(task: str) -> dict[str, dict[str, Any]]:
    """Heads entry of a card: the task's head trained, the others absent/untrained."""
    trained = HEAD_OF_TASK[task]
    return {name: {"trained": name == trained, "labels": dict(labels)} for name, labels in DEFAULT_LABELS.items()}
