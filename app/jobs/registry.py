"""The local model registry: the user's model folder, a folder of model bundles with their cards.

Finished fine-tunes are copied in (:func:`register_bundle`); models can be renamed (the card's
``name``), deleted and exported (copied elsewhere). Bundled models are always listed and are
read-only. Listing is :func:`app.state.model_catalog.available_models`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path

from app.state.model_catalog import (
    CARD_FILE,
    ModelEntry,
    read_card_dict,
    user_models_dir,
)

#: Where a registered model came from (beside ``model_card.json``; the card itself stays as written).
PROVENANCE_FILE = "registry.json"


class RegistryError(Exception):
    """A registry operation that cannot be done; the message says why and what to do."""


def safe_folder_name(name: str) -> str:
    """A folder name made from a model name (letters, digits, ``-_.``)."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", name.strip()).strip("-.")
    return cleaned or "model"


def _unique(folder: Path, name: str) -> Path:
    path, n = folder / name, 2
    while path.exists():
        path, n = folder / f"{name}-{n}", n + 1
    return path


def _write_card(bundle: Path, card: dict) -> None:
    path = bundle / CARD_FILE
    tmp = path.with_name(f".{CARD_FILE}.tmp")
    tmp.write_text(json.dumps(card, indent=2), encoding="utf-8")
    os.replace(tmp, path)


def register_bundle(bundle: Path, name: str, models_dir: Path | None = None,
                    source_run: str | None = None) -> Path:
    """Copy a finished run's ``bundle/`` into the model folder as ``name``; returns the new folder.

    The copy is made under a temporary name and renamed when complete, so the model selector
    never lists half a bundle.

    Raises:
        RegistryError: ``bundle`` is not a bundle, or the model folder cannot be written.
    """
    try:
        card = read_card_dict(bundle)
    except ValueError as exc:
        raise RegistryError(str(exc)) from exc
    folder = Path(models_dir) if models_dir is not None else user_models_dir()
    target = _unique(folder, safe_folder_name(name))
    tmp = folder / f".incoming-{target.name}-{os.getpid()}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(bundle, tmp)
        card["name"] = name  # the card's schema is strict: provenance goes in a file beside it
        _write_card(tmp, card)
        (tmp / PROVENANCE_FILE).write_text(json.dumps({
            "source_run": source_run or str(Path(bundle).parent),
            "registered": time.strftime("%Y-%m-%d %H:%M:%S")}, indent=1), encoding="utf-8")
        os.replace(tmp, target)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise RegistryError(f"Could not copy the model into {folder}: {exc.strerror or exc}. "
                            f"Free some space or choose another model folder.") from exc
    return target


def _writable(entry: ModelEntry, action: str) -> None:
    if entry.read_only:
        raise RegistryError(f"{entry.name} is the bundled model: it cannot be {action}. "
                            f"Export it to get a copy you can change.")


def rename_model(entry: ModelEntry, new_name: str) -> ModelEntry:
    """Set the model's display name (its card's ``name``); the folder stays where it is."""
    _writable(entry, "renamed")
    new_name = new_name.strip()
    if not new_name:
        raise RegistryError("A model needs a name.")
    try:
        card = read_card_dict(entry.path)
        card["name"] = new_name
        _write_card(entry.path, card)
    except (ValueError, OSError) as exc:
        raise RegistryError(f"Could not rename {entry.name}: {exc}") from exc
    return ModelEntry(new_name, entry.path, entry.origin)


def delete_model(entry: ModelEntry) -> None:
    """Remove a user model's folder."""
    _writable(entry, "deleted")
    if not (entry.path / CARD_FILE).is_file():
        raise RegistryError(f"{entry.path} is not a model bundle; nothing was deleted.")
    try:
        shutil.rmtree(entry.path)
    except OSError as exc:
        raise RegistryError(f"Could not delete {entry.path}: {exc.strerror or exc}") from exc


def export_model(entry: ModelEntry, destination: Path) -> Path:
    """Copy the bundle into ``destination`` (a folder); returns the copy's path."""
    destination = Path(destination)
    target = _unique(destination, safe_folder_name(entry.name))
    try:
        destination.mkdir(parents=True, exist_ok=True)
        shutil.copytree(entry.path, target)
    except OSError as exc:
        raise RegistryError(f"Could not export {entry.name} to {destination}: {exc.strerror or exc}") from exc
    return target
