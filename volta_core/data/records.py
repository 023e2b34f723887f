"""One sample of a dataset as found on disk (before any image is read)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class SampleRecord:
    """A T1w scan with its optional mask and labels.

    Attributes:
        subject: subject identifier (``sub-01`` style for BIDS); folds never split a subject.
        image: path to the T1w image.
        mask: path to the hippocampus mask (0 background, 1 left, 2 right), if any.
        sex: ``"M"`` / ``"F"`` or ``None`` (see :mod:`volta_core.data.labels`).
        diagnosis: ``"CN"`` / ``"AD"`` / ``"MCI"`` or ``None``.
        session: BIDS session (``ses-*``) or ``""``.
        raw: the label values as written in the source, for error messages.
    """

    subject: str
    image: Path
    mask: Path | None = None
    sex: str | None = None
    diagnosis: str | None = None
    session: str = ""
    raw: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.subject}/{self.session}" if self.session else self.subject


@dataclass
class IndexedDataset:
    """Everything found while indexing a dataset: the records and the label problems."""

    root: Path
    kind: str  # "bids" | "manifest"
    records: list[SampleRecord]
    label_issues: list[tuple[str, str, str]] = field(default_factory=list)  # (kind, subject, message)
