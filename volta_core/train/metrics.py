"""Evaluation metrics (numpy/scipy only): segmentation overlap/distance, classification.

Conventions: binary classification has positive class 1 (``M`` for sex, ``AD`` for ad); an
undefined value (e.g. AUROC with one class, HD95 with an empty mask) is ``nan``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage


def dice(pred: np.ndarray, target: np.ndarray) -> float:
    """Dice of two binary masks; 1.0 when both are empty."""
    pred, target = pred.astype(bool), target.astype(bool)
    denom = pred.sum() + target.sum()
    return 1.0 if denom == 0 else float(2.0 * np.logical_and(pred, target).sum() / denom)


def _surface(mask: np.ndarray) -> np.ndarray:
    return mask & ~ndimage.binary_erosion(mask, structure=ndimage.generate_binary_structure(3, 1), border_value=0)


def hd95(pred: np.ndarray, target: np.ndarray, spacing: Sequence[float] = (1.0, 1.0, 1.0)) -> float:
    """95th-percentile symmetric Hausdorff distance between mask surfaces, in mm.

    Distances come from Euclidean distance transforms with the voxel ``spacing``; the result
    is the larger of the two directed 95th percentiles (as MONAI). ``0`` when both masks are
    empty, ``nan`` when only one is.
    """
    pred, target = pred.astype(bool), target.astype(bool)
    if not pred.any() and not target.any():
        return 0.0
    if not pred.any() or not target.any():
        return float("nan")
    sp, st = _surface(pred), _surface(target)
    dt_to_target = ndimage.distance_transform_edt(~st, sampling=spacing)
    dt_to_pred = ndimage.distance_transform_edt(~sp, sampling=spacing)
    return float(max(np.percentile(dt_to_target[sp], 95), np.percentile(dt_to_pred[st], 95)))


def volume_error(pred: np.ndarray, target: np.ndarray, voxel_volume_mm3: float = 1.0) -> dict[str, float]:
    """Volume difference: ``abs_ml`` (pred - target, mL) and ``rel`` ((pred - target) / target)."""
    vp = float(pred.astype(bool).sum()) * voxel_volume_mm3 / 1000.0
    vt = float(target.astype(bool).sum()) * voxel_volume_mm3 / 1000.0
    return {"abs_ml": vp - vt, "rel": (vp - vt) / vt if vt > 0 else float("nan")}


def segmentation_metrics(pred: np.ndarray, target: np.ndarray, spacing: Sequence[float],
                         structures: Sequence[str] = ("hippocampus",)) -> dict[str, float]:
    """Dice, HD95 (mm) and relative volume error per class, plus means.

    Labels 1 (left) and 2 (right) are the hippocampus (keys ``dice_left`` ...; ``dice`` is their
    mean); further structures, labelled 3/4, 5/6 ... in the order of ``structures``, get keys
    ``dice_<structure>_<side>`` (Dice and volume error only).
    """
    out: dict[str, float] = {}
    voxel = float(np.prod(spacing))
    for k, name in enumerate(structures[1:], 1):
        for label, side in ((1 + 2 * k, "left"), (2 + 2 * k, "right")):
            p, t = pred == label, target == label
            out[f"dice_{name}_{side}"] = dice(p, t)
            out[f"volume_error_{name}_{side}"] = volume_error(p, t, voxel)["rel"]
    for label, side in ((1, "left"), (2, "right")):
        p, t = pred == label, target == label
        out[f"dice_{side}"] = dice(p, t)
        out[f"hd95_{side}"] = hd95(p, t, spacing)
        out[f"volume_error_{side}"] = volume_error(p, t, voxel)["rel"]
    out["dice"] = (out["dice_left"] + out["dice_right"]) / 2
    out["hd95"] = float(np.nanmean([out["hd95_left"], out["hd95_right"]])) if not (
        np.isnan(out["hd95_left"]) and np.isnan(out["hd95_right"])) else float("nan")
    return out


def auroc(labels: Sequence[int], scores: Sequence[float]) -> float:
    """Area under the ROC curve via ranks (Mann-Whitney U, ties get average ranks)."""
    y = np.asarray(labels).astype(bool)
    s = np.asarray(scores, dtype=np.float64)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    from scipy.stats import rankdata

    ranks = rankdata(s)  # average ranks for ties
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def binary_metrics(labels: Sequence[int], predictions: Sequence[int]) -> dict[str, float]:
    """Sensitivity (recall of class 1), specificity (recall of class 0), balanced accuracy, accuracy."""
    y = np.asarray(labels).astype(int)
    p = np.asarray(predictions).astype(int)
    tp = int(((p == 1) & (y == 1)).sum())
    tn = int(((p == 0) & (y == 0)).sum())
    pos, neg = int((y == 1).sum()), int((y == 0).sum())
    sens = tp / pos if pos else float("nan")
    spec = tn / neg if neg else float("nan")
    return {"sensitivity": sens, "specificity": spec, "balanced_accuracy": (sens + spec) / 2,
            "accuracy": float((p == y).mean()) if len(y) else float("nan")}


def classification_metrics(labels: Sequence[int], prob_positive: Sequence[float], threshold: float = 0.5) -> dict[str, float]:
    """AUROC from probabilities plus thresholded binary metrics."""
    probs = np.asarray(prob_positive, dtype=np.float64)
    return {"auroc": auroc(labels, probs), **binary_metrics(labels, (probs >= threshold).astype(int))}


def mean_sd(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation ignoring nans (sd 0 for one value)."""
    v = np.asarray([x for x in values if not np.isnan(x)], dtype=np.float64)
    if len(v) == 0:
        return float("nan"), float("nan")
    return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0
