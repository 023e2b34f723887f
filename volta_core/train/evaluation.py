"""Evaluate a task model on a supervised dataset (segmentation or classification metrics)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from volta_core.data.datasets import SupervisedDataset
from volta_core.train.metrics import classification_metrics, segmentation_metrics


@torch.no_grad()
def predict_dataset(model: torch.nn.Module, dataset: SupervisedDataset, device: torch.device) -> list[dict]:
    """Per-sample predictions: ``pred`` (D,H,W) labels for seg, ``prob`` of class 1 otherwise."""
    model.eval()
    out = []
    for i in range(len(dataset)):
        item = dataset[i]
        logits = model(item["image"][None].to(device))["logits"].float()
        if dataset.task == "seg":
            out.append({"subject": item["subject"], "pred": logits.argmax(1)[0].cpu().numpy(),
                        "target": item["mask"].numpy()})
        else:
            out.append({"subject": item["subject"], "prob": float(logits.softmax(-1)[0, 1]), "label": item["label"]})
    return out


def evaluate_model(model: torch.nn.Module, dataset: SupervisedDataset, task: str, device: torch.device,
                   spacing: float, structures: Sequence[str] = ("hippocampus",)) -> dict[str, float]:
    """Mean segmentation metrics over samples, or classification metrics over the set.

    A segmenter of more classes than ``structures`` (background, then left/right of each) is scored on
    those: its further classes count as background, as in masks that do not label them."""
    preds = predict_dataset(model, dataset, device)
    if task == "seg":
        n = 1 + 2 * len(structures)
        per = [segmentation_metrics(np.where(p["pred"] < n, p["pred"], 0), p["target"], (spacing,) * 3, structures)
               for p in preds]
        keys = per[0].keys() if per else []
        return {k: float(np.nanmean([m[k] for m in per])) if not all(np.isnan(m[k]) for m in per) else float("nan")
                for k in keys}
    return classification_metrics([p["label"] for p in preds], [p["prob"] for p in preds])
