"""What the results panel, the CSV export and the report show for a (possibly corrected) prediction."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from app.state.segmentation import Segmentation
from volta_core.contracts.prediction import HEAD_LABELS, INTENDED_USE, asymmetry_index, hippocampal_occupancy

Prediction = Any  # a volta_core.infer.Prediction

RESEARCH_LINE = "For research use only. Not for diagnosis."


@dataclass(frozen=True)
class ResultRows:
    """Formatted results: ``measures`` and ``quality`` are ``(label, text)`` rows."""

    measures: list[tuple[str, str]]
    classification: list[tuple[str, str]]
    quality: list[tuple[str, str]]
    warnings: list[str]
    model: str
    caveat: str


def corrected_prediction(segmentation: Segmentation) -> Prediction:
    """The segmentation's prediction with volumes, %ICV and asymmetry from the CURRENT labels."""
    prediction = segmentation.prediction
    if prediction is None:
        raise ValueError(f"{segmentation.name} is not a prediction")
    volumes = segmentation.volumes_ml()
    icv = prediction.icv_ml
    relative = None if not icv else {k: 100.0 * v / icv for k, v in volumes.items()}
    return replace(prediction, labels=segmentation.labels, volumes_ml=volumes, relative_volumes=relative,
                   asymmetry_index=asymmetry_index(volumes["left"], volumes["right"]),
                   hoc=hippocampal_occupancy(volumes))


def _volume_rows(prediction: Prediction, suffix: str, pct: Any) -> list[tuple[str, str]]:
    v = prediction.volumes_ml
    return [
        (f"Left hippocampus{suffix}", f"{v['left']:.3f} mL ({pct('left')})"),
        (f"Right hippocampus{suffix}", f"{v['right']:.3f} mL ({pct('right')})"),
        (f"Total{suffix}", f"{v['total']:.3f} mL ({pct('total')})"),
        ("Asymmetry index", "-" if prediction.asymmetry_index is None else f"{prediction.asymmetry_index:+.3f}"),
        *_structure_rows(prediction, suffix, pct),
        ("ICV estimate", "-" if prediction.icv_ml is None else f"{prediction.icv_ml:.0f} mL"),
    ]


def _structure_rows(prediction: Prediction, suffix: str, pct: Any) -> list[tuple[str, str]]:
    """Amygdala and inferior lateral ventricle volumes and HOC, for a model that segments them."""
    v, rows = prediction.volumes_ml, []
    for key, name in (("amygdala", "amygdala"), ("inferior_lateral_ventricle", "inferior lateral ventricle")):
        for side in ("left", "right"):
            if f"{key}_{side}" in v:
                rows.append((f"{side.capitalize()} {name}{suffix}", f"{v[f'{key}_{side}']:.3f} mL"))
    hoc = getattr(prediction, "hoc", None)
    if hoc is not None:
        rows.append(("HOC", ", ".join(f"{side} {hoc[side]:.2f}" for side in ("left", "right") if side in hoc) or "-"))
    return rows


def result_rows(segmentation: Segmentation, intended_use: str = INTENDED_USE) -> ResultRows:
    """Rows for the results panel and the report."""
    prediction = corrected_prediction(segmentation)
    rel = prediction.relative_volumes
    suffix = " (corrected)" if segmentation.edited else ""

    def pct(key: str) -> str:
        return f"{rel[key]:.3f}% of ICV" if rel else "ICV not available"

    if not getattr(prediction, "segmented", True):
        # a classifier's empty mask would read as 0.000 mL: say that nothing was measured instead
        measures = [("Hippocampus volumes", "not measured: this model has no trained segmentation head"),
                    ("ICV estimate", "-" if prediction.icv_ml is None else f"{prediction.icv_ml:.0f} mL")]
    else:
        measures = _volume_rows(prediction, suffix, pct)
    classification = [(HEAD_LABELS.get(head, head), result.display() + (f" ({result.note})" if result.note else ""))
                      for head, result in prediction.classification.items()]
    q = prediction.quality
    quality = [
        ("Registration quality", "-" if q.registration_quality is None else
         f"{q.registration_quality:.3f}" + ("" if q.registration_converged in (None, True) else " (did not converge)")),
        ("Template correlation", "-" if q.template_correlation is None else f"{q.template_correlation:.3f}"),
        ("OOD score", "n/a (no training statistics)" if q.ood_score is None else
         f"{q.ood_score:.2f} (1.0 = 95th pct. of training)"),
    ]
    m = prediction.model
    model = f"{m.name} (created {m.created}, code {m.code_version}), ran on {prediction.device}"
    segmenter = getattr(m, "segmenter", "")
    if segmenter:  # a bundle with a T1 segmenter beside the general one says which drew the masks
        kind, _, why = segmenter.partition(" ")
        model += f"; masks by its {'T1' if kind == 't1' else 'general'} segmenter {why}".rstrip()
    caveat = f"Intended use (model card): {intended_use}."
    return ResultRows(measures, classification, quality, list(q.warnings), model, caveat)
