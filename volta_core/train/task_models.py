"""Build fine-tuning networks from a config and initialise them from pretrained weights."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from volta_core.config import FinetuneConfig, init_card, init_settings
from volta_core.data.prepare import size3
from volta_core.contracts.model_card import DEFAULT_LABELS, BundleError
from volta_core.model.bundle import load_bundle
from volta_core.data.synth.fs_labels import STRUCTURES, structure_classes
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
        n_classes = 1 + 2 * len(cfg.synth.structures)
        model = build_segmenter(encoder, num_classes=n_classes, feature_size=cfg.seg_feature_size,
                                image_pyramid=cfg.seg_image_pyramid)
        arch.update(model="segmenter", num_classes=n_classes,
                    decoder={"feature_size": cfg.seg_feature_size, "tap_layers": list(model.decoder.tap_layers),
                             "image_pyramid": cfg.seg_image_pyramid})
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


def card_heads(task: str, kept: dict[str, str] | None = None,
               structures: list[str] | tuple[str, ...] = ("hippocampus",),
               kept_seg_classes: int = 3) -> dict[str, dict[str, Any]]:
    """Heads entry of a card: every head, the task's and the ``kept`` ones (name -> note) trained.

    The segmentation head's labels name ``structures`` (left, right each) after background when
    it is the task's head, or the first ``(kept_seg_classes - 1) / 2`` structures of
    ``fs_labels.STRUCTURES`` when it is kept from the starting model.
    """
    trained = HEAD_OF_TASK[task]
    kept = kept or {}
    heads: dict[str, dict[str, Any]] = {}
    for name, labels in DEFAULT_LABELS.items():
        heads[name] = {"trained": name == trained or name in kept, "labels": dict(labels)}
        if name in kept:
            heads[name]["note"] = kept[name]
    if task == "seg":
        seg_structures = list(structures)
    else:
        seg_structures = list(STRUCTURES)[: max(1, (kept_seg_classes - 1) // 2)]
    heads["segmentation"]["labels"] = {str(k): v for k, v in structure_classes(seg_structures).items()}
    return heads


@dataclass
class StartingHeads:
    """The trained heads of the bundle a fine-tune starts from, as a multi-task model holds them.

    Attributes:
        source: the starting model's name (its card).
        trained: card head names that are trained (``segmentation``, ``sex``, ``ad``).
        decoder: the segmentation decoder's architecture (``feature_size``, ``tap_layers``,
            ``num_classes``), or ``None``.
        heads: classification head name -> architecture (``num_classes``, ``use_patch_mean``, ``hidden_dim``).
        state: ``decoder.*`` and ``heads.<name>.*`` weights.
    """

    source: str
    trained: set[str] = field(default_factory=set)
    decoder: dict[str, Any] | None = None
    heads: dict[str, dict[str, Any]] = field(default_factory=dict)
    state: dict[str, torch.Tensor] = field(default_factory=dict)


def starting_heads(path: str | Path) -> StartingHeads | None:
    """The trained heads of the bundle at ``path`` (or of a run folder's ``bundle/``); ``None`` for a
    pretraining run or an encoder-only bundle."""
    folder = Path(path) if (Path(path) / "model_card.json").is_file() else Path(path) / "bundle"
    if not (folder / "model_card.json").is_file():
        return None
    try:
        card, state = load_bundle(folder)
    except BundleError as exc:
        raise InitError(str(exc)) from exc
    arch = card.architecture
    kind = arch.get("model", "encoder")
    trained = {name for name, head in card.heads.items() if head.get("trained")}
    out = StartingHeads(card.name, trained)
    if kind in ("segmenter", "multitask") and "segmentation" in trained and arch.get("decoder"):
        out.decoder = {**arch["decoder"], "num_classes": int(arch["decoder"].get("num_classes",
                                                                                arch.get("num_classes", 3)))}
        out.state.update({k: v for k, v in state.items() if k.startswith("decoder.")})
    if kind == "classifier":
        cls = [h for h in ("sex", "ad") if h in trained]
        if len(cls) == 1:
            head = arch.get("head") or {}
            out.heads[cls[0]] = {"num_classes": int(arch.get("num_classes", 2)),
                                 "use_patch_mean": bool(head.get("use_patch_mean", True)),
                                 "hidden_dim": head.get("hidden_dim")}
            out.state.update({f"heads.{cls[0]}.{k[5:]}": v for k, v in state.items() if k.startswith("head.")})
    elif kind == "multitask":
        for name, head in (arch.get("heads") or {}).items():
            if name in trained:
                out.heads[name] = dict(head)
                out.state.update({k: v for k, v in state.items() if k.startswith(f"heads.{name}.")})
    return out


def init_task_head(model: torch.nn.Module, start: StartingHeads, task: str) -> int:
    """Start the task's own head from the starting model's trained one where it fits (a segmentation
    fine-tune of a segmenter goes on from its decoder); returns the tensor count (0: a new head).

    A decoder for more structures keeps every tensor, and its output layer keeps the starting
    model's classes as its leading rows: classes are numbered structure by structure (background,
    then left/right of each, hippocampus first: ``fs_labels.structure_classes``), so a
    hippocampus model's background/left/right start where they were and only the added
    structures' rows start from scratch."""
    if task == "seg":
        prefix, module = "decoder.", getattr(model, "decoder", None)
    else:
        prefix, module = f"heads.{task}.", getattr(model, "head", None)
    if module is None:
        return 0
    theirs = {k[len(prefix):]: v for k, v in start.state.items() if k.startswith(prefix)}
    own = module.state_dict()
    # every tensor that fits; an output layer for more classes takes the starting classes' rows
    fitting = {k: v for k, v in theirs.items() if k in own and v.shape == own[k].shape}
    if task == "seg":
        for k, v in theirs.items():
            mine = own.get(k)
            if (mine is not None and k not in fitting and v.ndim == mine.ndim and v.shape[1:] == mine.shape[1:]
                    and v.shape[0] < mine.shape[0]):
                grown = mine.clone()
                grown[: v.shape[0]] = v
                fitting[k] = grown
    if not fitting:
        return 0
    module.load_state_dict({**own, **fitting})
    return len(fitting)


def kept_heads(start: StartingHeads | None, task: str, mode: str) -> dict[str, str]:
    """The starting model's trained heads a fine-tune for ``task`` keeps (name -> card note)."""
    if start is None:
        return {}
    own = HEAD_OF_TASK[task]
    names = [h for h in ("segmentation", "sex", "ad") if h != own and h in start.trained
             and (start.decoder is not None if h == "segmentation" else h in start.heads)]
    if mode == "linear":
        how = "the encoder was frozen, so this head gives what it gave there"
    else:
        how = (f"the shared encoder was fine-tuned for {own}, which can shift this head's outputs: "
               "fine-tune with mode=linear to keep them exactly")
    return {h: f"kept from {start.source} with its weights unchanged; {how}" for h in names}


def multitask_bundle(model: torch.nn.Module, arch: dict[str, Any], start: StartingHeads, task: str,
                     kept: dict[str, str]) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Architecture and state of one model with the fine-tuned head and the ``kept`` ones."""
    state = {k: v for k, v in model.state_dict().items() if k.startswith("encoder.")}
    out = {k: v for k, v in arch.items() if k not in ("decoder", "head", "num_classes")}
    out.update(model="multitask", heads={})
    if task == "seg":
        out["decoder"] = {**arch["decoder"], "num_classes": int(arch.get("num_classes", 3))}
        state.update({k: v for k, v in model.state_dict().items() if k.startswith("decoder.")})
    else:
        out["heads"][task] = {"num_classes": int(arch.get("num_classes", 2)), **arch.get("head", {})}
        state.update({f"heads.{task}.{k[5:]}": v for k, v in model.state_dict().items() if k.startswith("head.")})
    if "segmentation" in kept:
        out["decoder"] = dict(start.decoder or {})
        state.update({k: v for k, v in start.state.items() if k.startswith("decoder.")})
    for name in ("sex", "ad"):
        if name in kept:
            out["heads"][name] = dict(start.heads[name])
            state.update({k: v for k, v in start.state.items() if k.startswith(f"heads.{name}.")})
    return out, state
