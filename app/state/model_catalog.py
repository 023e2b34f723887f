"""Which model bundles the app offers: the bundled one(s), the user's model folder, opened ones."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from volta_core.contracts.model_card import CARD_FILE, read_card_dict
from volta_core.contracts.prediction import INTENDED_USE, NOT_TRAINED
from volta_core.contracts.resources import resources_root

#: Point this at a folder to use it as the user's model folder (tests use a temporary one).
MODELS_ENV = "VOLTA_MODELS_DIR"
APP_NAME = "VolTA-3D Studio"
NO_MODEL = "No model available: choose a model bundle (Model > Open model bundle...)"


@dataclass(frozen=True)
class ModelEntry:
    """A bundle folder the model selector lists."""

    name: str
    path: Path
    origin: str  # "bundled", "user" or "opened"

    def label(self) -> str:
        return f"{self.name} ({self.origin})"

    @property
    def read_only(self) -> bool:
        """Bundled models ship with the app: they cannot be renamed or deleted."""
        return self.origin == "bundled"


_models_dir_setting: Path | None = None


def set_user_models_dir(path: str | Path | None) -> None:
    """Use ``path`` as the user's model folder (the registry's "Change folder"; None: the default).

    ``$VOLTA_MODELS_DIR`` still wins, so tests stay isolated from a user's setting.
    """
    global _models_dir_setting
    _models_dir_setting = Path(path) if path else None


def user_models_dir() -> Path:
    """``$VOLTA_MODELS_DIR``, else the folder chosen in the registry, else
    ``<user data dir>/VolTA-3D Studio/models``."""
    override = os.environ.get(MODELS_ENV)
    if override:
        return Path(override)
    if _models_dir_setting is not None:
        return _models_dir_setting
    from platformdirs import user_data_dir

    return Path(user_data_dir(APP_NAME, appauthor=False)) / "models"


def bundled_models_dir() -> Path:
    """``resources/models`` (found without importing volta_core.io: that pulls in nibabel, which
    start-up must not pay for)."""
    return resources_root() / "models"


def find_bundles(folder: Path, origin: str) -> list[ModelEntry]:
    """Bundles directly inside ``folder`` (or ``folder`` itself), sorted by name."""
    if not folder.is_dir():
        return []
    candidates = [folder] if (folder / CARD_FILE).is_file() else sorted(p.parent for p in folder.glob(f"*/{CARD_FILE}"))
    entries = []
    for path in candidates:
        try:
            name = str(read_card_dict(path).get("name") or path.name)
        except ValueError:
            continue  # a damaged bundle is not offered; opening it directly reports why
        entries.append(ModelEntry(name, path, origin))
    return entries


def available_models() -> list[ModelEntry]:
    """Bundled models first, then the user's."""
    return find_bundles(bundled_models_dir(), "bundled") + find_bundles(user_models_dir(), "user")


def card_rows(card: dict[str, Any]) -> list[tuple[str, str]]:
    """The card's fields as readable ``(label, text)`` rows for the model-card viewer."""
    heads = card.get("heads", {}) or {}
    head_text = []
    for head in ("segmentation", "sex", "ad"):
        info = heads.get(head, {}) or {}
        state = "trained" if info.get("trained") else NOT_TRAINED
        labels = ", ".join(str(v) for v in (info.get("labels") or {}).values())
        head_text.append(f"{head}: {state}" + (f" ({labels})" if labels else ""))
        if isinstance(info.get("t1_variant"), dict):
            head_text[-1] += (f"; T1 segmenter for template correlation >= "
                              f"{info['t1_variant'].get('min_template_correlation', '?')}")
    arch = card.get("architecture", {}) or {}
    inp = card.get("input", {}) or {}
    metrics = card.get("metrics", {}) or {}
    return [
        ("Name", str(card.get("name", "-"))),
        ("Intended use", str(card.get("intended_use", INTENDED_USE))),
        ("Created", str(card.get("created", "-"))),
        ("Code version", str(card.get("code_version", "-"))),
        ("Architecture", f"{arch.get('model', '-')} on {arch.get('encoder', '-')}"),
        ("Input", f"{inp.get('size', '-')} voxels at {inp.get('spacing_mm', '-')} mm, "
                  f"{inp.get('space', 'native')} space, {inp.get('normalisation', '-')} normalisation"),
        ("Heads", "\n".join(head_text)),
        ("Training data", _flat(card.get("training_data", {}))),
        ("Metrics", _flat(metrics)),
        ("Licence", str(card.get("licence", "-"))),
    ]


def _flat(value: Any, indent: str = "") -> str:
    if isinstance(value, dict):
        if not value:
            return "-"
        return "\n".join(f"{indent}{k}: " + (("\n" + _flat(v, indent + "  ")) if isinstance(v, dict) and v
                                             else _flat(v)) for k, v in value.items())
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
