"""Check a dataset before training and report EVERY problem at once.

Example::

    report = validate_dataset("/data/my_bids", task="seg")
    if not report.ok:
        print(report.summary())
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from volta_core.contracts.prediction import segmented_structures
from volta_core.data.manifest import ManifestError, index_dataset
from volta_core.data.reader import ImageReadError, read_volume
from volta_core.data.records import IndexedDataset

PROBLEM_KINDS = (
    "missing_file", "unreadable_file", "missing_mask", "shape_mismatch", "affine_mismatch",
    "unknown_label", "missing_label", "mask_values", "too_few_samples", "duplicate_subject",
    "no_samples",
)
TASKS = ("pretrain", "seg", "sex", "ad")
#: mask labels a segmentation dataset may hold: background, hippocampus left/right, and the further
#: structures this app's masks hold (3/4 amygdala, 5/6 inferior lateral ventricle)
MASK_VALUES = tuple(range(7))


def mask_structures(labels: set[int]) -> list[str]:
    """The structures masks holding the label values ``labels`` annotate: the hippocampus (1/2), and
    the amygdala (3/4) and inferior lateral ventricle (5/6) when they hold those (this app's masks of
    a model that segments them: the lab training set)."""
    # label L belongs to structure (L - 1) // 2: as many structures as a segmentation of L + 2 classes
    return segmented_structures(max(labels, default=0) + 2)


def seg_structures(found: list[str], start: list[str]) -> tuple[list[str], list[str] | None]:
    """What a fine-tune on real masks segments, and which of those its masks annotate.

    Masks holding fewer structures than the starting model segments (hippocampus-only masks from
    another tool, for the 7-class shipped model) keep the starting model's structures: cutting its
    output layer down would throw away what it knows of the others (and measured on the held-out case
    of the lab-loop test, the cut start scored Dice 0.16). Returns ``(structures, annotated)``;
    ``annotated`` is ``None`` when the masks label every structure."""
    if len(start) > len(found) and start[: len(found)] == found:
        return list(start), list(found)
    return list(found), None


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a dataset.

    Attributes:
        kind: one of :data:`PROBLEM_KINDS`.
        subject: subject concerned (``""`` for dataset-wide problems).
        path: file concerned, if any.
        message: what is wrong, in words a user can act on.
    """

    kind: str
    subject: str
    path: str
    message: str


@dataclass
class ValidationReport:
    """Outcome of :func:`validate_dataset`."""

    root: str
    task: str
    n_samples: int = 0
    problems: list[Problem] = field(default_factory=list)
    class_counts: dict[str, int] = field(default_factory=dict)
    dataset: IndexedDataset | None = None
    #: the label values found in the masks that were read (``seg`` with ``read_images``)
    mask_labels: set[int] = field(default_factory=set)

    @property
    def ok(self) -> bool:
        return not self.problems

    def kinds(self) -> set[str]:
        return {p.kind for p in self.problems}

    def summary(self) -> str:
        """Human-readable report: counts, then every problem on its own line."""
        counts = ", ".join(f"{k}: {v}" for k, v in sorted(self.class_counts.items())) or "-"
        lines = [f"Dataset {self.root} (task {self.task}): {self.n_samples} samples; per class: {counts}"]
        if self.ok:
            lines.append("No problems found.")
        else:
            lines.append(f"{len(self.problems)} problem(s):")
            for p in self.problems:
                where = f" [{p.path}]" if p.path else ""
                lines.append(f"  - {p.kind}: {p.subject + ': ' if p.subject else ''}{p.message}{where}")
        return "\n".join(lines)


def validate_dataset(source: str | Path | IndexedDataset, task: str = "seg", *,
                     min_per_class: int = 2, read_images: bool = True,
                     affine_atol: float = 1e-3) -> ValidationReport:
    """Validate a BIDS folder / CSV manifest for a task, collecting all problems.

    Args:
        source: BIDS folder, CSV manifest, or an already indexed dataset.
        task: ``pretrain`` (images only), ``seg`` (masks needed), ``sex`` or ``ad`` (labels).
        min_per_class: fewest samples each class needs (seg: fewest masked samples).
        read_images: read every file (finds unreadable ones and mask/image mismatches).
        affine_atol: tolerance in mm for image/mask affine agreement.
    """
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    try:
        ds = source if isinstance(source, IndexedDataset) else index_dataset(source)
    except ManifestError as exc:
        rep = ValidationReport(root=str(source), task=task)
        rep.problems.append(Problem("unreadable_file", "", str(source), str(exc)))
        return rep
    rep = ValidationReport(root=str(ds.root), task=task, n_samples=len(ds.records), dataset=ds)
    for kind, subject, message in ds.label_issues:
        rep.problems.append(Problem(kind, subject, "", message))
    if not ds.records:
        rep.problems.append(Problem("no_samples", "", str(ds.root), "no T1w images were found"))
    classes: Counter[str] = Counter()
    for rec in ds.records:
        image_shape, image_affine = _check_file(rep, rec.subject, rec.image, "image", read_images)
        if task == "seg":
            if rec.mask is None:
                rep.problems.append(Problem("missing_mask", rec.subject, str(rec.image),
                                            "no hippocampus mask (derivatives/*/sub-*/anat/*hippocampus*_mask*"
                                            " or *_dseg.nii.gz)"))
            else:
                shape, affine = _check_file(rep, rec.subject, rec.mask, "mask", read_images,
                                            check_values=True)
                if image_shape is not None and shape is not None:
                    if shape != image_shape:
                        rep.problems.append(Problem("shape_mismatch", rec.subject, str(rec.mask),
                                                    f"mask shape {shape} != image shape {image_shape}"))
                    elif not np.allclose(affine, image_affine, atol=affine_atol):
                        rep.problems.append(Problem("affine_mismatch", rec.subject, str(rec.mask),
                                                    "mask and image affines differ (not on the same grid)"))
                if rec.mask.is_file():
                    classes["masked"] += 1
        elif task in ("sex", "ad"):
            label = rec.sex if task == "sex" else rec.diagnosis
            raw = rec.raw.get("sex" if task == "sex" else "diagnosis", "")
            if label is None and not raw:
                rep.problems.append(Problem("missing_label", rec.subject, "",
                                            f"no {'sex' if task == 'sex' else 'diagnosis'} value"))
            elif label is not None:
                classes[label] += 1
        else:
            classes["images"] += 1
    rep.class_counts = dict(classes)
    _check_counts(rep, task, classes, min_per_class)
    return rep


def _check_file(rep: ValidationReport, subject: str, path: Path, what: str, read: bool,
                check_values: bool = False) -> tuple[tuple[int, ...] | None, np.ndarray | None]:
    if not path.is_file():
        rep.problems.append(Problem("missing_file", subject, str(path), f"{what} file does not exist"))
        return None, None
    if not read:
        return None, None
    try:
        vol = read_volume(path)
    except ImageReadError as exc:
        rep.problems.append(Problem("unreadable_file", subject, str(path), f"{what}: {exc}"))
        return None, None
    if check_values:
        values = np.unique(vol.data)
        rep.mask_labels.update(int(v) for v in values.tolist() if v in MASK_VALUES)
        bad = [v for v in values.tolist() if v not in MASK_VALUES]
        if bad:
            shown = ", ".join(f"{v:g}" for v in bad[:8]) + (" ..." if len(bad) > 8 else "")
            rep.problems.append(Problem("mask_values", subject, str(path),
                                        f"mask values must be 0 (background), 1 (left), 2 (right) hippocampus, and "
                                        f"optionally 3/4 amygdala, 5/6 inferior lateral ventricle; found {shown}"))
    return tuple(vol.data.shape), vol.affine


def _check_counts(rep: ValidationReport, task: str, classes: Counter[str], min_per_class: int) -> None:
    if task == "seg":
        wanted = {"masked": classes.get("masked", 0)}
    elif task == "sex":
        wanted = {c: classes.get(c, 0) for c in ("F", "M")}
    elif task == "ad":
        wanted = {c: classes.get(c, 0) for c in ("CN", "AD")}
    else:
        wanted = {"images": classes.get("images", 0)}
        min_per_class = 1
    for name, count in wanted.items():
        if count < min_per_class:
            rep.problems.append(Problem("too_few_samples", "", "",
                                        f"class {name} has {count} sample(s); the {task} task needs "
                                        f"at least {min_per_class}"))
