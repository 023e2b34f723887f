"""A job's config as YAML text: the shipped base config, the form's main values on top, checked
against the engine's config dataclasses (``volta_core.config``: plain data, no torch)."""

from __future__ import annotations

import tempfile
from pathlib import Path
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


def resolve(task: str, text: str, overrides: list[str] | None = None) -> Any:
    """The engine's view of the config: defaults, then ``text``, then ``overrides``.

    Returns:
        A ``PretrainConfig`` or ``FinetuneConfig``.

    Raises:
        JobConfigError: unknown key, wrong type, unparsable override.
    """
    from volta_core.config import (
        ConfigError,
        FinetuneConfig,
        PretrainConfig,
        load_config,
    )

    parse(text)
    cls = PretrainConfig if task == "pretrain" else FinetuneConfig
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "config.yaml"
        path.write_text(text, encoding="utf-8")
        try:
            return load_config(cls, path, list(overrides or []))
        except ConfigError as exc:
            raise JobConfigError(str(exc)) from exc
