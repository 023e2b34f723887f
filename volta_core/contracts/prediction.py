"""What a prediction returns: named outputs on the scan's own grid, and their JSON form.

Part of the torch-free contract (numpy and the standard library only): the predictor fills these
records, the app, the CLI and the reports read them, and everyone measures volumes, asymmetry and
HOC with the same formulas.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

__all__ = ["EXTRA_STRUCTURES", "HEAD_LABELS", "INTENDED_USE", "LABEL_NAMES", "LEFT", "NOT_TRAINED", "RIGHT", "ClassResult",
           "ModelInfo", "Prediction", "QualityReport", "asymmetry_index", "hippocampal_occupancy",
           "label_names_for", "label_volumes_ml", "segmented_structures"]

LEFT, RIGHT = 1, 2
#: class id -> name of the hippocampus label map (predicted, corrected, exported)
LABEL_NAMES = {0: "background", LEFT: "left hippocampus", RIGHT: "right hippocampus"}
#: further structures a segmentation head may have, in class order after the hippocampus
#: (3/4 amygdala, 5/6 inferior lateral ventricle): volume keys ``<key>_left`` / ``<key>_right``
EXTRA_STRUCTURES = ("amygdala", "inferior_lateral_ventricle")
NOT_TRAINED = "not trained: fine-tune on your data"
#: how a classification head's probability is labelled (app, CLI, reports)
HEAD_LABELS = {"sex": "P(male)", "ad": "P(Alzheimer's disease)"}
#: what every model card, prediction record and report says the results are for
INTENDED_USE = "research use only, not for diagnosis"


@dataclass(frozen=True)
class ClassResult:
    """One classification head's answer, or why there is none.

    Attributes:
        head: ``"sex"`` or ``"ad"``.
        trained: False when the bundle's head has no trained weights; then ``probability`` is None.
        probability: probability of ``positive_label`` (``"M"`` for sex, ``"AD"`` for ad).
        positive_label: the class ``probability`` refers to.
        note: caveat to show next to the number (e.g. the model card's proxy warning).
    """

    head: str
    trained: bool
    probability: float | None
    positive_label: str
    note: str = ""

    def display(self) -> str:
        if not self.trained or self.probability is None:
            return NOT_TRAINED
        return f"{self.probability:.2f}"


@dataclass(frozen=True)
class QualityReport:
    """How far to trust this prediction.

    Attributes:
        registration_quality: normalised cross-correlation with the template after registration,
            in [0, 1] (None when the model works in native space).
        registration_converged: whether the optimiser converged.
        template_correlation: signed correlation of the preprocessed scan with the template in
            the brain; negative means inverted (T2-like) contrast.
        ood_score: distance of the scan's encoder features from the training data, scaled so
            that 1.0 is the 95th percentile of the training scans; None if the bundle has no
            feature statistics.
        warnings: plain-language warnings for the user.
    """

    registration_quality: float | None
    registration_converged: bool | None
    template_correlation: float | None
    ood_score: float | None
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class ModelInfo:
    """Which bundle produced a prediction; ``segmenter`` says which of its segmenters drew the masks
    and why (e.g. ``t1 (template correlation 0.712 >= 0.466)``), empty for a bundle with one."""

    name: str
    created: str
    code_version: str
    bundle: str
    segmenter: str = ""


@dataclass
class Prediction:
    """Everything one run of the model on one scan produced.

    Attributes:
        labels: ``(I, J, K)`` uint8 on the scan's grid: 0 background, 1 left, 2 right hippocampus.
        probabilities: ``(3, I, J, K)`` float16 per-class probabilities on the scan's grid.
        affine: the scan's voxel -> RAS mm affine (labels and probabilities share it).
        volumes_ml: ``{"left": mL, "right": mL, "total": mL}``.
        icv_ml: intracranial-volume estimate (template brain volume scaled by the
            registration's determinant, eTIV-style), None in native space.
        relative_volumes: hippocampus volumes as a percentage of ``icv_ml``.
        asymmetry_index: ``(L - R) / ((L + R) / 2)``; None when both are 0.
        classification: head name -> :class:`ClassResult`.
        quality: see :class:`QualityReport`.
        model: which bundle produced it.
        device: device the model ran on (human-readable).
        timings: seconds per stage.
        scan: display name of the scan.
        segmented: False when the model has no trained segmentation head: ``labels`` are empty and
            ``volumes_ml`` are zeros that measure nothing (the app shows no volume then).
    """

    labels: np.ndarray
    probabilities: np.ndarray
    affine: np.ndarray
    volumes_ml: dict[str, float]
    icv_ml: float | None
    relative_volumes: dict[str, float] | None
    asymmetry_index: float | None
    classification: dict[str, ClassResult]
    quality: QualityReport
    model: ModelInfo
    device: str
    timings: dict[str, float] = field(default_factory=dict)
    scan: str = ""
    segmented: bool = True  # False: the model has no trained segmentation head (labels empty, no volumes)
    label_names: dict[int, str] = field(default_factory=lambda: dict(LABEL_NAMES))
    hoc: dict[str, float] | None = None

    def summary(self) -> dict[str, Any]:
        """Everything but the arrays, JSON-serialisable."""
        return {
            "scan": self.scan,
            "volumes_ml": self.volumes_ml,
            "icv_ml": self.icv_ml,
            "relative_volumes_percent_icv": self.relative_volumes,
            "asymmetry_index": self.asymmetry_index,
            "hippocampal_occupancy": self.hoc,
            "classification": {k: asdict(v) for k, v in self.classification.items()},
            "quality": {**asdict(self.quality), "warnings": list(self.quality.warnings)},
            "model": asdict(self.model),
            "device": self.device,
            "timings_s": {k: round(v, 4) for k, v in self.timings.items()},
            "labels": {str(k): v for k, v in self.label_names.items()},
            "grid": {"shape": list(self.labels.shape), "affine": np.asarray(self.affine).round(6).tolist()},
            "intended_use": INTENDED_USE,
        }


def segmented_structures(n_classes: int) -> list[str]:
    """The structures a segmentation of ``n_classes`` classes holds, in class order: background, then
    left/right of the hippocampus (1/2) and of each of :data:`EXTRA_STRUCTURES` (3/4, 5/6)."""
    return ["hippocampus", *EXTRA_STRUCTURES[: max(0, (n_classes - 3) // 2)]]


def label_names_for(n_classes: int) -> dict[int, str]:
    """Class names of a segmentation with ``n_classes`` classes (hippocampus, then the extras)."""
    names = dict(LABEL_NAMES)
    for k, structure in enumerate(segmented_structures(n_classes)[1:]):
        label = structure.replace("_", " ")
        names[3 + 2 * k], names[4 + 2 * k] = f"left {label}", f"right {label}"
    return names


def label_volumes_ml(labels: np.ndarray, affine: np.ndarray, n_classes: int = 3) -> dict[str, float]:
    """Volumes in mL from a label map and its affine.

    Returns:
        ``{"left", "right", "total"}`` (hippocampus) and, for a segmentation with more classes,
        ``"<structure>_left"`` / ``"<structure>_right"`` for each of :data:`EXTRA_STRUCTURES`.
    """
    voxel_ml = abs(float(np.linalg.det(np.asarray(affine)[:3, :3]))) / 1000.0
    counts = np.bincount(labels.ravel(), minlength=max(3, n_classes))
    left, right = float(counts[1]) * voxel_ml, float(counts[2]) * voxel_ml
    out = {"left": left, "right": right, "total": left + right}
    for k, structure in enumerate(segmented_structures(n_classes)[1:]):
        out[f"{structure}_left"] = float(counts[3 + 2 * k]) * voxel_ml
        out[f"{structure}_right"] = float(counts[4 + 2 * k]) * voxel_ml
    return out


def hippocampal_occupancy(volumes: dict[str, float]) -> dict[str, float] | None:
    """HOC = hippocampus / (hippocampus + inferior lateral ventricle), per side, in [0, 1].

    The inferior lateral ventricle (temporal horn) widens as the hippocampus shrinks, so HOC
    falls with atrophy (Heister et al., 2011). ``None`` when the model does not segment the
    ventricle; a side with neither structure is left out.
    """
    if "inferior_lateral_ventricle_left" not in volumes:
        return None
    out = {}
    for side in ("left", "right"):
        total = volumes[side] + volumes[f"inferior_lateral_ventricle_{side}"]
        if total > 0:
            out[side] = volumes[side] / total
    return out


def asymmetry_index(left: float, right: float) -> float | None:
    """``(L - R) / ((L + R) / 2)``: 0 symmetric, positive when the left is larger."""
    mean = (left + right) / 2.0
    return None if mean <= 0 else (left - right) / mean
