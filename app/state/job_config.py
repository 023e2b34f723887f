"""A job's config as YAML text: the shipped base config, the form's main values on top, checked
against the engine's config dataclasses (``volta_core.config``: plain data, no torch)."""

from __future__ import annotations

from typing import Any

import yaml

#: The main hyper-parameters the form edits: dotted key -> label (pretraining counts steps).
FINETUNE_KEYS = {"epochs": "Epochs", "batch_size": "Batch size", "optim.lr": "Learning rate",
                 "mode": "Mode", "val_fraction": "Validation fraction"}
PRETRAIN_KEYS = {"steps": "Steps", "batch_size": "Batch size", "optim.lr": "Learning rate"}


class JobConfigError(ValueError):
    """The config text is not valid YAML or not a valid training config (the message says where)."""


def parse(text: str) -> dict[str, Any]:
    """YAML text -> mapping.

    Raises:
        JobConfigError: not YAML, or not a mapping.
    """
    try:
        data = yaml.safe_load(text) if text.strip() else {}
    except yaml.YAMLError as exc:
        raise JobConfigError(f"The config is not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise JobConfigError("The config must be a mapping of keys to values.")
    return data


def get_value(data: dict[str, Any], key: str, default: Any = None) -> Any:
    node: Any = data
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node


def set_values(text: str, values: dict[str, Any]) -> str:
    """``text`` with each dotted key set to its value (comments are not kept)."""
    data = parse(text)
    for key, value in values.items():
        node = data
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise JobConfigError(f"{part} is not a section of the config")
        node[parts[-1]] = value
    return yaml.safe_dump(data, sort_keys=False)


#: The keys a starting model decides (``volta_core.config.card_settings``), with the engine's defaults
#: for a run that starts from random weights.
INIT_DEFAULTS: dict[str, Any] = {"model.encoder": "vit3d_tiny", "model.overrides": {}, "data.size": 96,
                                 "data.spacing": 1.5, "data.normalisation": "percentile", "data.space": "native",
                                 "data.roi": None, "seg_feature_size": 16, "seg_image_pyramid": False}


def with_init_settings(text: str, init: str, task: str, base_text: str = "") -> str:
    """``text`` with the encoder and input settings of the starting model ``init``.

    Without a starting model the settings of ``base_text`` (the shipped config), else the engine's
    defaults, come back, so switching from a bundle to random initialisation leaves nothing of it.
    """
    from volta_core.config import init_settings

    if init:
        settings = init_settings(init)
    else:
        base = parse(base_text) if base_text.strip() else {}
        settings = {key: get_value(base, key, default) for key, default in INIT_DEFAULTS.items()}
    if task == "pretrain":  # the decoder's settings are fine-tuning keys
        settings.pop("seg_feature_size", None)
        settings.pop("seg_image_pyramid", None)
    return set_values(text, settings) if settings else text


def describe_input(data: dict[str, Any]) -> str:
    """``vit3d_small encoder, 64x48x48 voxels at 1.5 mm, template space, hippocampus ROI``."""
    size = get_value(data, "data.size", INIT_DEFAULTS["data.size"])
    size = [size] * 3 if isinstance(size, int) else list(size)
    spacing = get_value(data, "data.spacing", 1.5)
    space = get_value(data, "data.space", "native") or "native"
    roi = get_value(data, "data.roi")
    text = (f"{get_value(data, 'model.encoder', INIT_DEFAULTS['model.encoder'])} encoder, "
            f"{'x'.join(str(v) for v in size)} voxels at {spacing:g} mm, {space} space")
    return text + (f", {roi} ROI" if roi else "")


def resolve(task: str, text: str, overrides: list[str] | None = None, init: str = "") -> Any:
    """The engine's view of the config: defaults, then ``text``, then the starting model's settings
    (``init``, as ``volta finetune --init`` adopts them), then ``overrides``.

    Returns:
        A ``PretrainConfig`` or ``FinetuneConfig``.

    Raises:
        JobConfigError: unknown key, wrong type, unparsable override.
    """
    from volta_core.config import (
        ConfigError,
        FinetuneConfig,
        PretrainConfig,
        config_from_init,
        config_from_text,
    )

    parse(text)
    cls = PretrainConfig if task == "pretrain" else FinetuneConfig
    try:
        cfg = config_from_text(cls, text, list(overrides or []))
        if init:
            cfg = config_from_init(cfg, init, list(overrides or []))
        return cfg
    except ConfigError as exc:
        raise JobConfigError(str(exc)) from exc
