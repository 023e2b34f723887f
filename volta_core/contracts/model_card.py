"""The model card: everything about a bundled model except its weights, and its JSON reader.

Part of the torch-free contract (standard library only): the app lists, shows and edits cards
without importing torch; :mod:`volta_core.model.bundle` adds the weights (safetensors) and builds
the network a card describes. A card is validated on reading, before anything is allocated:
:func:`check_model_size` estimates the network's size from the numbers alone.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from volta_core.contracts.prediction import INTENDED_USE, LABEL_NAMES

FORMAT_VERSION = 1
CARD_FILE = "model_card.json"
HEAD_NAMES = ("segmentation", "sex", "ad")
DEFAULT_LABELS = {
    "segmentation": {str(k): v for k, v in LABEL_NAMES.items()},
    "sex": {"0": "F", "1": "M"},
    "ad": {"0": "CN", "1": "AD"},
}
#: Limits that no real model of this app comes near (vit3d_large at 160^3 is ~90 M parameters,
#: 1000 tokens); a card beyond them is damaged or hostile and is refused before anything is built.
MAX_PARAMETERS = 1_000_000_000
MAX_TOKENS = 262_144
MAX_INPUT_VOXELS = 512**3
MAX_CLASSES = 1000
#: ``multitask``: one encoder, a segmentation decoder and/or named classification heads (a fine-tune
#: that kept its starting model's other trained heads; architecture ``decoder`` and ``heads``).
MODEL_KINDS = ("segmenter", "classifier", "multitask", "encoder")
#: Encoder preset name -> constructor kwargs of ``VisionTransformer3D`` (the card's
#: ``architecture.encoder`` names one). Only ``vit3d_tiny`` / ``vit3d_small`` are meant for CPU.
ENCODER_PRESETS: dict[str, dict[str, Any]] = {
    "vit3d_tiny": dict(embed_dim=192, depth=6, num_heads=3, patch_size=16),
    "vit3d_small": dict(embed_dim=192, depth=12, num_heads=3, patch_size=16),
    "vit3d_base": dict(embed_dim=384, depth=12, num_heads=6, patch_size=16),
    "vit3d_large": dict(embed_dim=768, depth=12, num_heads=12, patch_size=16),
}


class BundleError(ValueError):
    """A bundle is missing, damaged or its card is invalid (the message says which field)."""


@dataclass
class ModelCard:
    """Everything about a bundled model except its weights.

    Attributes:
        name: human name of the model.
        architecture: ``{"encoder": preset, "overrides": {...}, "model": "segmenter" |
            "classifier" | "encoder", "num_classes": int}``.
        input: ``{"spacing_mm": [x, y, z], "size": [D, H, W], "orientation": "RAS",
            "normalisation": "percentile" | "zscore"}``.
        heads: head name -> ``{"trained": bool, "labels": {"0": name, ...}}`` for
            ``segmentation``, ``sex`` and ``ad``.
        training_data: free-form summary (dataset, counts per class, augmentations ...).
        metrics: metric name -> value, plus ``"protocol"`` describing how they were measured.
        licence: licence of the weights (and of the data they derive from).
        intended_use: always states research use only.
        created: ISO 8601 UTC timestamp.
        code_version: ``git describe`` of the code that trained it (or the package version).
        format_version: bundle format version.
        limitations: plain-language limits of what the model was trained and tested on.
        recipe: how to reproduce the weights (command, configs, time, machine).
    """

    name: str
    architecture: dict[str, Any]
    input: dict[str, Any]
    heads: dict[str, dict[str, Any]]
    training_data: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    licence: str = "research use only; see resources/licenses"
    intended_use: str = INTENDED_USE
    created: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    code_version: str = "unknown"
    format_version: int = FORMAT_VERSION
    limitations: list[str] = field(default_factory=list)
    recipe: dict[str, Any] = field(default_factory=dict)

    @property
    def segmentation_classes(self) -> int:
        """Output classes of the segmentation decoder (background included; 0 without one).

        A segmenter keeps them in ``architecture.num_classes``, a multitask model (segmentation
        plus classification heads) in ``architecture.decoder.num_classes``."""
        arch = self.architecture
        if arch.get("model") == "multitask":
            return int(arch.get("decoder", {}).get("num_classes", 3))
        if arch.get("model") == "segmenter":
            return int(arch.get("num_classes", 3))
        return 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> ModelCard:
        """Validate plain data and build a card.

        Raises:
            BundleError: a required field is missing, has the wrong type or an unsupported value.
        """
        if not isinstance(data, dict):
            raise BundleError("model card must be a JSON object")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise BundleError(f"model card has unknown field(s): {', '.join(unknown)}")
        for key in ("name", "architecture", "input", "heads"):
            if key not in data:
                raise BundleError(f"model card lacks the required field {key!r}")
        version = data.get("format_version", FORMAT_VERSION)
        if not isinstance(version, int) or version > FORMAT_VERSION or version < 1:
            raise BundleError(f"model card format_version {version!r} is not supported (this app reads "
                              f"1..{FORMAT_VERSION}); update VolTA-3D Studio")
        _expect(data, "name", str)
        arch = _expect(data, "architecture", dict)
        if not isinstance(arch.get("encoder"), str):
            raise BundleError("model card architecture.encoder must be an encoder preset name")
        if arch.get("model", "encoder") not in MODEL_KINDS:
            raise BundleError(f"model card architecture.model {arch.get('model')!r} must be segmenter, "
                              "classifier, multitask or encoder")
        if not isinstance(arch.get("overrides", {}), dict):
            raise BundleError("model card architecture.overrides must be an object")
        inp = _expect(data, "input", dict)
        spacing, size = inp.get("spacing_mm"), inp.get("size")
        if not (isinstance(spacing, list) and len(spacing) == 3 and all(isinstance(v, (int, float)) and v > 0 for v in spacing)):
            raise BundleError("model card input.spacing_mm must be three positive numbers")
        if not (isinstance(size, list) and len(size) == 3 and all(isinstance(v, int) and v > 0 for v in size)):
            raise BundleError("model card input.size must be three positive integers")
        if inp.get("orientation") != "RAS":
            raise BundleError(f"model card input.orientation must be 'RAS', got {inp.get('orientation')!r}")
        if inp.get("normalisation") not in ("percentile", "zscore"):
            raise BundleError("model card input.normalisation must be 'percentile' or 'zscore'")
        check_model_size(arch, size)
        heads = _expect(data, "heads", dict)
        for name, head in heads.items():
            if name not in HEAD_NAMES:
                raise BundleError(f"model card head {name!r} is unknown (expected {', '.join(HEAD_NAMES)})")
            if not isinstance(head, dict) or not isinstance(head.get("trained"), bool):
                raise BundleError(f"model card heads.{name}.trained must be true or false")
            labels = head.get("labels")
            if not isinstance(labels, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items()):
                raise BundleError(f"model card heads.{name}.labels must map class ids to names")
        for key in ("training_data", "metrics", "recipe"):
            _expect(data, key, dict, required=False)
        limits = data.get("limitations", [])
        if not (isinstance(limits, list) and all(isinstance(v, str) for v in limits)):
            raise BundleError("model card limitations must be a list of sentences")
        for key in ("licence", "intended_use", "created", "code_version"):
            _expect(data, key, str, required=False)
        if "research" not in data.get("intended_use", INTENDED_USE).lower():
            raise BundleError("model card intended_use must state research use (not for diagnosis)")
        return cls(**data)


def _expect(data: dict[str, Any], key: str, tp: type, required: bool = True) -> Any:
    if key not in data:
        if required:
            raise BundleError(f"model card lacks the required field {key!r}")
        return None
    value = data[key]
    if not isinstance(value, tp) or (tp is int and isinstance(value, bool)):
        raise BundleError(f"model card field {key!r} must be a {tp.__name__}, got {type(value).__name__}")
    return value


def _positive_int(value: Any, key: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise BundleError(f"model card architecture.{key} must be a positive integer, got {value!r}")
    return value


def estimate_parameters(arch: dict[str, Any], input_size: list[int]) -> tuple[int, int]:
    """Parameter count and token count of the network a card describes, from the numbers alone.

    Nothing is allocated: this is what lets a card with ``embed_dim=3000000`` be refused before
    an attempt to allocate terabytes. Unknown presets give ``(0, 0)`` (``build_model`` names them).

    Raises:
        BundleError: a size field that is not a positive integer.
    """
    preset = ENCODER_PRESETS.get(arch["encoder"])
    if preset is None:
        return 0, 0
    over = arch.get("overrides", {})
    cfg = {"img_size": input_size, "in_chans": 1, "mlp_ratio": 4.0, **preset, **over}
    dim = _positive_int(cfg["embed_dim"], "overrides.embed_dim")
    depth = _positive_int(cfg["depth"], "overrides.depth")
    patch = _positive_int(cfg["patch_size"], "overrides.patch_size")
    chans = _positive_int(cfg["in_chans"], "overrides.in_chans")
    img = cfg["img_size"]
    img = [img] * 3 if isinstance(img, int) else img
    if not (isinstance(img, list) and len(img) == 3):
        raise BundleError(f"model card architecture.overrides.img_size must be three integers, got {img!r}")
    tokens = math.prod(max(1, _positive_int(v, "overrides.img_size") // patch) for v in img)
    ratio = cfg["mlp_ratio"]
    if not isinstance(ratio, (int, float)) or isinstance(ratio, bool) or not 0 < ratio <= 64:
        raise BundleError(f"model card architecture.overrides.mlp_ratio must be a number in (0, 64], got {ratio!r}")
    hidden = int(dim * ratio)
    block = 4 * dim * dim + 2 * dim * hidden + hidden + 9 * dim  # qkv + proj, mlp, biases and norms
    params = depth * block + chans * patch**3 * dim + (tokens + 3) * dim
    kind = arch.get("model", "encoder")
    classes = _positive_int(arch.get("num_classes", 3 if kind == "segmenter" else 2), "num_classes")
    if classes > MAX_CLASSES:
        raise BundleError(f"model card architecture.num_classes {classes} is beyond {MAX_CLASSES}")
    sections = {}
    for name in ("decoder", "head"):
        sections[name] = arch.get(name) or {}
        if not isinstance(sections[name], dict):
            raise BundleError(f"model card architecture.{name} must be an object")
    if kind == "segmenter":
        feat = _positive_int(sections["decoder"].get("feature_size", 16), "decoder.feature_size")
        levels = max(1, int(math.log2(patch)))
        widths = [feat * 2**j for j in range(levels)] + [dim]
        # per level: two 3^3 convolutions and a 2^3 up-convolution, plus the token skips
        params += sum(27 * 3 * w * w + 8 * w * widths[j + 1] + 8 * dim * w * j for j, w in enumerate(widths[:-1]))
        if sections["decoder"].get("image_pyramid"):  # per level 1..k-1: a strided conv, a conv block, a 1^3 join
            params += sum(8 * widths[j - 1] * w + 55 * w * w for j, w in enumerate(widths[:-1]) if j)
    elif kind == "classifier":
        hidden_dim = sections["head"].get("hidden_dim")
        if hidden_dim is None:
            params += dim * classes
        else:
            hidden_dim = _positive_int(hidden_dim, "head.hidden_dim")
            params += dim * hidden_dim + hidden_dim * classes
    return params, tokens


def check_model_size(arch: dict[str, Any], input_size: list[int]) -> None:
    """Refuse a card whose network or input would be absurdly large (see :data:`MAX_PARAMETERS`).

    Raises:
        BundleError: with the estimate and the limit.
    """
    voxels = math.prod(input_size)
    if voxels > MAX_INPUT_VOXELS:
        raise BundleError(f"model card input.size {input_size} is {voxels:.3g} voxels per scan, beyond the "
                          f"{MAX_INPUT_VOXELS:.3g} this app handles: the card is damaged or not for this app")
    params, tokens = estimate_parameters(arch, input_size)
    if tokens > MAX_TOKENS:
        raise BundleError(f"model card architecture gives {tokens} tokens per scan (img_size / patch_size), beyond "
                          f"the {MAX_TOKENS} this app handles: the card is damaged or not for this app")
    if params > MAX_PARAMETERS:
        raise BundleError(f"model card architecture describes about {params:.3g} parameters "
                          f"({params * 4 / 2**30:.3g} GiB of weights), beyond the {MAX_PARAMETERS:.0e} this app "
                          "loads: the card is damaged or not for this app; nothing was allocated")


def read_card(path: str | Path) -> ModelCard:
    """Read and validate only the card of a bundle.

    Raises:
        BundleError: missing folder/card or invalid card.
    """
    card_path = Path(path) / CARD_FILE
    data = _read_json(card_path, path)
    try:
        return ModelCard.from_dict(data)
    except BundleError as exc:
        raise BundleError(f"{card_path}: {exc}") from exc


def read_card_dict(bundle: str | Path) -> dict[str, Any]:
    """A bundle's model card as plain JSON, without validating its fields (the model list and
    the registry show and edit cards this way; :func:`read_card` validates).

    Raises:
        BundleError: not a bundle, or the card is not a valid JSON object.
    """
    path = Path(bundle) / CARD_FILE
    data = _read_json(path, bundle)
    if not isinstance(data, dict):
        raise BundleError(f"{path} does not hold a model card")
    return data


def _read_json(card_path: Path, bundle: str | Path) -> Any:
    if not card_path.is_file():
        raise BundleError(f"{bundle} is not a model bundle: {CARD_FILE} is missing")
    try:
        return json.loads(card_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"{card_path} is not valid JSON: {exc}") from exc
