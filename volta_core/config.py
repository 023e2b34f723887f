"""Training configurations as plain data: dataclasses <-> YAML/JSON, with dotted overrides.

Configs never hold executable strings: names (encoder presets, tasks) resolve to code only
through :mod:`volta_core.registry`. Overrides are ``key=value`` pairs whose value is parsed
with ``yaml.safe_load`` (numbers, booleans, lists, ``null``) and then type-checked against the
dataclass field, so a typo in a key or a wrong type is an error, not a silent no-op.

Example::

    cfg = load_config(PretrainConfig, "configs/pretrain_tiny.yaml", ["optim.lr=1e-4", "steps=50"])
    save_config(cfg, run_dir / "config.yaml")
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml


class ConfigError(ValueError):
    """A config file or override is invalid (unknown key, wrong type, unreadable file)."""


def grid_shape(size: int | list[int] | tuple[int, ...]) -> tuple[int, int, int]:
    """``DataConfig.size`` as a 3-tuple (an int is a cube)."""
    if isinstance(size, int):
        return (size, size, size)
    if len(size) != 3:
        raise ConfigError(f"data.size: expected one integer or three, got {list(size)}")
    return (int(size[0]), int(size[1]), int(size[2]))


@dataclass
class DataConfig:
    """How scans become model inputs (shared by training and, later, inference).

    Attributes:
        spacing: isotropic voxel size in mm of the model space. 1.5 mm with ``size=96`` gives
            a 144 mm field of view, which holds a skull-stripped adult brain left-right and
            superior-inferior (a few mm of the frontal/occipital poles may be cut) and fits
            216 tokens at patch 16.
        size: model input in voxels: one edge (a cube) or ``[x, y, z]`` (each a multiple of the
            patch size), e.g. ``[96, 64, 64]`` at 1 mm holds both hippocampi (``roi``).
        normalisation: ``"percentile"`` (robust 0.5/99.5 percentiles -> [0, 1]) or ``"zscore"``
            (zero mean, unit variance inside the foreground).
        space: ``"native"`` (the scan's own space, centred on the head) or ``"template"``
            (affinely registered to the shipped template first, as the bundled model does).
        roi: in template space, a named region to centre the grid on (``"hippocampus"``).
        cache: keep prepared samples in memory (datasets here are small).
        num_workers: DataLoader workers (spawn context); 0 loads in the training process;
            -1 (default) chooses: 0 on a CPU, one per spare core (up to 8) on a GPU.
    """

    spacing: float = 1.5
    size: int | list[int] = 96
    normalisation: str = "percentile"
    space: str = "native"
    roi: str | None = None
    cache: bool = True
    num_workers: int = -1

    def __post_init__(self) -> None:
        shape = grid_shape(self.size)  # one integer or three
        if min(shape) < 1:
            raise ConfigError(f"data.size: sizes must be positive, got {self.size}")
        if self.num_workers < -1:
            raise ConfigError(f"data.num_workers: -1 (auto), 0 or more, got {self.num_workers}")


@dataclass
class SynthDataConfig:
    """Synthetic training data drawn on the fly (:mod:`volta_core.data.synth`, recipe extras).

    Attributes:
        subset: source label maps: ``"dk"``, ``"fsaverage"`` or ``"all"``; ``""`` = off (use
            ``data_path``). The held-out protocol trains on one subset and tests on the other.
        n_train: distinct training samples (sample ``i`` always has the same seed).
        n_val: validation samples (a separate seed stream).
        mode: ``"synth"``, ``"template"`` or ``"mixed"`` (see ``SynthConfig``).
        template_prob: share of template-mode samples in ``mixed`` mode.
        seed: seed of the sample streams.
        overrides: nested ``SynthConfig`` overrides (``{"deform": {"scale": 0.1}}``).
        label_maps: folder of individual whole-head label maps for the ``individual`` subsets
            (``volta_core.data.real_data``; e.g. SynthSeg's training maps).
        structures: what the segmentation head segments, left and right: ``hippocampus``,
            ``amygdala``, ``inferior_lateral_ventricle`` (``fs_labels.STRUCTURES``).
    """

    subset: str = ""
    n_train: int = 100000
    n_val: int = 16
    mode: str = "mixed"
    template_prob: float = 0.3
    seed: int = 0
    overrides: dict[str, Any] = field(default_factory=dict)
    label_maps: str = ""
    structures: list[str] = field(default_factory=lambda: ["hippocampus"])


@dataclass
class ModelConfig:
    """Encoder preset (a name in ``volta_core.registry.ENCODERS``) and its overrides."""

    encoder: str = "vit3d_tiny"
    overrides: dict[str, Any] = field(default_factory=dict)


@dataclass
class OptimConfig:
    """AdamW with per-iteration warmup + cosine schedules for lr and weight decay."""

    lr: float = 5e-4
    min_lr: float = 1e-6
    warmup_steps: int = 10
    weight_decay: float = 0.04
    weight_decay_end: float = 0.2
    grad_clip: float = 3.0
    accumulation: int = 1
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])

    def __post_init__(self) -> None:
        # no upper bound: a huge lr is how the divergence tests make a loss NaN on purpose
        if not (math.isfinite(self.lr) and self.lr > 0.0):
            raise ConfigError(f"optim.lr must be a number above 0 (e.g. 5e-4), not {self.lr!r}: "
                              "a learning rate of 0 trains nothing")
        if not (math.isfinite(self.min_lr) and 0.0 <= self.min_lr <= self.lr):
            raise ConfigError(f"optim.min_lr must lie between 0 and optim.lr ({self.lr:g}), not {self.min_lr!r}")
        if self.accumulation < 1 or self.warmup_steps < 0:
            raise ConfigError("optim.accumulation must be at least 1 and optim.warmup_steps at least 0")


#: ``ssl.collapse_action``: log a warning and train on, stop with a checkpoint, or do not check.
COLLAPSE_ACTIONS = ("warn", "stop", "off")


@dataclass
class SSLConfig:
    """Self-supervised objective (VolTA: global + masked local + reconstruction)."""

    momentum_start: float = 0.996
    momentum_end: float = 1.0
    teacher_temp_start: float = 0.04
    teacher_temp_end: float = 0.07
    teacher_temp_warmup_steps: int = 30
    mask_ratio: float = 0.5
    min_crop_scale: float = 0.5
    max_block_patches: int = 3
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    collapse_action: str = "warn"  # one of COLLAPSE_ACTIONS: what a collapsed teacher does (train/collapse.py)
    collapse_patience: int = 20  # consecutive collapsed steps before it counts

    def __post_init__(self) -> None:
        if self.collapse_action not in COLLAPSE_ACTIONS:
            raise ConfigError(f"ssl.collapse_action must be one of {', '.join(COLLAPSE_ACTIONS)}, "
                              f"not {self.collapse_action!r}")
        if self.collapse_patience < 1:
            raise ConfigError(f"ssl.collapse_patience must be at least 1, not {self.collapse_patience}")


@dataclass
class PretrainConfig:
    """Self-supervised pretraining run."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    ssl: SSLConfig = field(default_factory=SSLConfig)
    data_path: str = ""  # BIDS folder or CSV manifest; empty = synth (if set) or toy heads
    synth: SynthDataConfig = field(default_factory=SynthDataConfig)
    # with both data_path and synth.subset: this fraction of samples are data_path's (real) scans,
    # prepared once on the model's view and mixed into the synthetic stream
    real_fraction: float = 0.5
    init: str = ""  # continue from this bundle's or pretraining run's encoder (student and teacher)
    synthetic_subjects: int = 8
    batch_size: int = 2
    steps: int = 100
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | mps
    precision: str = "auto"  # auto | fp32 | bf16 | fp16 (mixed precision on CUDA only)
    log_every: int = 1
    checkpoint_every: int = 50
    threads: int = 0  # torch intra-op threads; 0 = cores // world_size


@dataclass
class FinetuneConfig:
    """Supervised fine-tuning run (segmentation or classification)."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=1e-3, weight_decay=0.01,
                                                                    weight_decay_end=0.01))
    task: str = "seg"  # seg | sex | ad
    data_path: str = ""
    synth: SynthDataConfig = field(default_factory=SynthDataConfig)  # seg only, instead of data_path
    init: str = ""  # pretrained bundle or pretrain run folder
    mode: str = "full"  # full | linear (frozen encoder, linear probe)
    seg_feature_size: int = 16  # UNETR decoder channels at full resolution (8 halves CPU cost)
    seg_image_pyramid: bool = False  # decoder: image features at every level, not only full resolution
    layer_decay: float = 0.75
    batch_size: int = 2
    epochs: int = 20
    steps: int = 0  # > 0: exactly this many optimizer steps instead of epochs x batches per epoch
    val_fraction: float = 0.2
    augment: bool = True
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"
    log_every: int = 1
    checkpoint_every: int = 50
    threads: int = 0
    min_per_class: int = 2

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.epochs < 1 or self.steps < 0:
            raise ConfigError(f"batch_size and epochs must be at least 1 and steps at least 0, not "
                              f"batch_size={self.batch_size}, epochs={self.epochs}, steps={self.steps}")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ConfigError(f"val_fraction must lie in [0, 1), not {self.val_fraction}")


ConfigT = TypeVar("ConfigT")


def to_dict(cfg: Any) -> dict[str, Any]:
    """The config as plain, JSON/YAML-serialisable data."""
    return dataclasses.asdict(cfg)


def from_dict(cls: type[ConfigT], data: dict[str, Any], _prefix: str = "") -> ConfigT:
    """Build a config dataclass from plain data, rejecting unknown keys and wrong types.

    Raises:
        ConfigError: with the dotted key at fault.
    """
    if not isinstance(data, dict):
        raise ConfigError(f"{_prefix or 'config'}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"unknown config key(s): {', '.join(_prefix + k for k in unknown)}; "
                          f"known: {', '.join(sorted(names))}")
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        kwargs[name] = _coerce(hints[name], value, _prefix + name)
    return cls(**kwargs)


def _coerce(tp: Any, value: Any, key: str) -> Any:
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, key + ".")
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        for option in options[:-1]:  # the first type that accepts the value (int | list[int])
            try:
                return _coerce(option, value, key)
            except ConfigError:
                pass
        return _coerce(options[-1], value, key)
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        (item,) = typing.get_args(tp) or (Any,)
        return [_coerce(item, v, key) for v in value]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return dict(value)
    if tp is Any:
        return value
    if tp is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if tp is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if tp is bool and isinstance(value, bool):
        return value
    if tp is str and isinstance(value, str):
        return value
    if tp is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise ConfigError(f"{key}: expected {getattr(tp, '__name__', tp)}, got {value!r}")


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``a.b.c=value`` overrides to nested plain data (returns a new dict).

    Values are parsed with ``yaml.safe_load`` (so ``1e-4`` is a float, ``[1,2]`` a list,
    ``true`` a bool); nothing is ever evaluated as code.
    """
    out = json.loads(json.dumps(data))
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not of the form key=value")
        key, raw = item.split("=", 1)
        key = key.strip()
        if not key:
            raise ConfigError(f"override {item!r} has an empty key")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError as exc:
            raise ConfigError(f"override {item!r}: cannot parse value: {exc}") from exc
        node = out
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r}: {part} is not a section")
        node[parts[-1]] = _yaml_number(value, raw)
    return out


def _yaml_number(value: Any, raw: str) -> Any:
    """YAML 1.1 reads ``1e-4`` as a string: read such scientific numbers as floats."""
    if isinstance(value, str):
        try:
            return float(raw) if any(c in raw.lower() for c in "e.") else value
        except ValueError:
            return value
    return value


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML or JSON config file into plain data."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from exc
    return parse_config_text(text, f"config file {path}", json_text=path.suffix.lower() == ".json")


def parse_config_text(text: str, source: str = "the config", *, json_text: bool = False) -> dict[str, Any]:
    """YAML (or, with ``json_text``, JSON) config text into plain data.

    Args:
        source: what error messages call the text (e.g. ``"config file run/config.yaml"``).

    Raises:
        ConfigError: not valid YAML/JSON, or not a mapping at the top level.
    """
    try:
        data = json.loads(text) if json_text else yaml.safe_load(text)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{source} is not valid YAML/JSON: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source} must hold a mapping at the top level")
    return _floatify(data)


def _floatify(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _floatify(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_floatify(v) for v in data]
    if isinstance(data, str):
        return _yaml_number(data, data) if data[:1].isdigit() or data[:1] in "-." else data
    return data


def load_config(cls: type[ConfigT], path: str | Path | None = None,
                overrides: list[str] | None = None) -> ConfigT:
    """Defaults, then the file (if any), then overrides -> a validated config dataclass."""
    return _config(cls, read_config_file(path) if path else {}, overrides)


def config_from_text(cls: type[ConfigT], text: str, overrides: list[str] | None = None) -> ConfigT:
    """Defaults, then the YAML ``text`` (e.g. the training panel's editor), then overrides -> a
    validated config dataclass, as :func:`load_config` reads a file.

    Raises:
        ConfigError: invalid YAML, unknown key, wrong type, unparsable override.
    """
    return _config(cls, parse_config_text(text), overrides)


def _config(cls: type[ConfigT], data: dict[str, Any], overrides: list[str] | None) -> ConfigT:
    base = _merge(to_dict(cls()), data)
    return from_dict(cls, apply_overrides(base, overrides or []))


def _merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key not in ("overrides", "model_kwargs"):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


#: Encoder fields that must equal the starting model's for its weights to fit (the input grid may differ:
#: the positional embedding is interpolated).
ENCODER_SHAPE_KEYS = ("patch_size", "in_chans", "embed_dim", "depth", "num_heads", "mlp_ratio")


def init_card(path: str | Path) -> dict[str, Any] | None:
    """The model card (plain JSON) of a starting model: a bundle folder, or a run folder with ``bundle/``.

    Returns ``None`` where there is no readable card (e.g. a pretraining run that has not finished:
    its ``config.yaml`` is used instead, see :func:`init_settings`).
    """
    for folder in (Path(path), Path(path) / "bundle"):
        try:
            data = json.loads((folder / "model_card.json").read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            continue
        if isinstance(data, dict) and isinstance(data.get("architecture"), dict) and isinstance(data.get("input"), dict):
            return data
    return None


def card_settings(card: dict[str, Any]) -> dict[str, Any]:
    """What a fine-tune adopts from its starting model's card, as dotted config keys.

    The encoder preset and its overrides (all but ``img_size``: the grid comes from ``data.size``),
    the input grid, spacing, space, ROI and normalisation, and the segmentation decoder width.
    """
    arch, inp = card.get("architecture") or {}, card.get("input") or {}
    out: dict[str, Any] = {}
    if isinstance(arch.get("encoder"), str):
        out["model.encoder"] = arch["encoder"]
        out["model.overrides"] = {k: v for k, v in (arch.get("overrides") or {}).items() if k != "img_size"}
    if isinstance(inp.get("size"), list) and len(inp["size"]) == 3:
        out["data.size"] = [int(v) for v in inp["size"]]
    spacing = inp.get("spacing_mm")
    if isinstance(spacing, list) and spacing:
        out["data.spacing"] = float(spacing[0])
    if inp.get("normalisation"):
        out["data.normalisation"] = str(inp["normalisation"])
    out["data.space"] = str(inp.get("space", "native"))  # cards that do not say were trained in native space
    out["data.roi"] = inp.get("roi")
    decoder = arch.get("decoder") or {}
    if isinstance(decoder.get("feature_size"), int):
        out["seg_feature_size"] = int(decoder["feature_size"])
    if isinstance(decoder.get("image_pyramid"), bool):
        out["seg_image_pyramid"] = decoder["image_pyramid"]
    return out


def run_settings(run_dir: str | Path) -> dict[str, Any]:
    """The same settings from a pretraining run folder's ``config.yaml`` (a run without a bundle yet)."""
    try:
        data = read_config_file(Path(run_dir) / "config.yaml")
    except ConfigError:
        return {}
    model, dataconf = data.get("model") or {}, data.get("data") or {}
    out: dict[str, Any] = {}
    if isinstance(model.get("encoder"), str):
        out["model.encoder"] = model["encoder"]
        out["model.overrides"] = {k: v for k, v in (model.get("overrides") or {}).items() if k != "img_size"}
    for key in ("size", "spacing", "normalisation", "space", "roi"):
        if key in dataconf:
            out[f"data.{key}"] = dataconf[key]
    return out


def init_settings(path: str | Path) -> dict[str, Any]:
    """The settings a fine-tune adopts from the starting model at ``path`` ({} if it says nothing)."""
    card = init_card(path)
    return card_settings(card) if card is not None else run_settings(path)


def adopt_init_settings(data: dict[str, Any], init: str | Path, overrides: list[str] | None = None) -> dict[str, Any]:
    """Config data with the starting model's encoder and input settings, then ``overrides`` on top.

    The settings of the model a fine-tune starts from (:func:`init_settings`) replace those of
    the config file, because its weights only fit its own encoder and were trained on its own
    input grid, spacing, space and ROI; only an explicit ``key=value`` override (``overrides``)
    still changes them. Returns a new dict.
    """
    out = json.loads(json.dumps(data))
    for key, value in init_settings(init).items():
        if key.split(".")[0] not in out:  # e.g. seg_feature_size: a fine-tuning key, not a pretraining one
            continue
        node = out
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return apply_overrides(out, overrides or [])


def config_from_init(cfg: ConfigT, init: str | Path, overrides: list[str] | None = None) -> ConfigT:
    """``cfg`` with the starting model's encoder and input settings (:func:`adopt_init_settings`)."""
    return from_dict(type(cfg), adopt_init_settings(to_dict(cfg), init, overrides))


def init_mismatch(cfg: Any, init: str | Path) -> str | None:
    """Why the starting model's weights cannot initialise ``cfg``'s encoder (``None``: they can).

    Checks the encoder preset and its shape fields against the card, and that the input grid is a
    multiple of the patch size (a different grid is fine: the positional embedding is interpolated).
    """
    settings = init_settings(init)
    if "model.encoder" not in settings:
        return None
    name = Path(init).name
    if cfg.model.encoder != settings["model.encoder"]:
        return (f"the starting model {name} has a {settings['model.encoder']} encoder, the config asks for "
                f"{cfg.model.encoder}: remove the model.encoder override (the starting model's encoder is used)")
    theirs = settings["model.overrides"]
    ours = cfg.model.overrides or {}
    wrong = [k for k in ENCODER_SHAPE_KEYS if k in ours and k in theirs and ours[k] != theirs[k]]
    wrong += [k for k in ENCODER_SHAPE_KEYS if (k in ours) != (k in theirs)]
    if wrong:
        key = sorted(set(wrong))[0]
        return (f"the starting model {name} has {key}={theirs.get(key, 'its preset value')}, the config asks for "
                f"{key}={ours.get(key, 'the preset value')}: its weights would not fit; remove that override")
    patch = int(theirs.get("patch_size", 16))
    size = grid_shape(cfg.data.size)
    if any(s % patch for s in size):
        return (f"data.size {list(size)} is not a multiple of the starting model's patch size {patch}: "
                f"choose sides divisible by {patch} (e.g. {settings.get('data.size')})")
    return None


def save_config(cfg: Any, path: str | Path) -> None:
    """Write the resolved config as YAML (the run folder's ``config.yaml``), atomically.

    The file appears whole or not at all: a run stopped or failing while it is written never
    leaves a half config that a later ``--resume`` would read.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False), encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
