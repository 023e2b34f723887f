"""What a model card says about where a model came from: counts and hashes, never names.

Model cards travel with every exported model, so they must not carry subject IDs (which can be
names or record numbers, e.g. ``DOE^JOHN_MRN111``) or absolute paths (which show user names and
study folders). The data are described by counts and a SHA-256 over the files' contents (the
same files give the same hash wherever they lie); a starting model by its card's name and hash.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from volta_core.data.records import SampleRecord

CHUNK = 1 << 20


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def records_fingerprint(records: Sequence[SampleRecord], prefix: str = "") -> dict[str, Any]:
    """Counts and one content hash of the images (and masks) of ``records``.

    The hash does not depend on file names, folders or order: it is the SHA-256 of the sorted
    per-sample hashes (image bytes, then mask bytes when there is a mask).
    """
    samples = sorted(file_sha256(r.image) + (file_sha256(r.mask) if r.mask is not None else "") for r in records)
    return {f"{prefix}n_subjects": len({r.subject for r in records}),
            f"{prefix}data_sha256": hashlib.sha256("\n".join(samples).encode()).hexdigest()}


def dataset_kind(path: str | Path) -> str:
    """``"BIDS folder"`` or ``"CSV/TSV manifest"``: the kind of source, not where it is."""
    return "BIDS folder" if Path(path).is_dir() else "CSV/TSV manifest"


def init_summary(path: str | Path | None) -> dict[str, str] | str:
    """What a fine-tuning run started from: ``"random"``, or the model's name and a hash.

    A bundle (or a pretraining run's bundle) gives its card's ``name`` and the SHA-256 of
    ``model_card.json``; a pretraining run with only a checkpoint gives the checkpoint's hash.
    """
    if not path:
        return "random"
    path = Path(path)
    for card in (path / "model_card.json", path / "bundle" / "model_card.json"):
        if card.is_file():
            try:
                name = str(json.loads(card.read_text(encoding="utf-8")).get("name", "unnamed"))
            except (OSError, ValueError, AttributeError):
                name = "unnamed"
            return {"name": name, "card_sha256": file_sha256(card)}
    checkpoint = path / "checkpoints" / "last.pt"
    if checkpoint.is_file():
        return {"name": "pretraining checkpoint", "checkpoint_sha256": file_sha256(checkpoint)}
    return {"name": "unknown"}
