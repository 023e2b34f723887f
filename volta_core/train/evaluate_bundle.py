"""``volta evaluate``: a bundle on a dataset as-is, or k-fold cross-validated fine-tuning from it.

With ``folds=None`` the bundle's trained head is evaluated on every usable sample (one row).
With ``folds=K`` the bundle's encoder initialises one fine-tuning run per subject-level fold
(``<out>/fold{i}``) and each fold's held-out metrics form a row; the table ends with mean +- sd.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from volta_core.config import FinetuneConfig, apply_overrides, from_dict, to_dict
from volta_core.data.datasets import PreparedVolumes, SupervisedDataset
from volta_core.data.validate import validate_dataset
from volta_core.contracts.model_card import BundleError
from volta_core.model.bundle import load_model
from volta_core.train.cv import subject_kfold
from volta_core.train.device import choose_device
from volta_core.train.evaluation import evaluate_model
from volta_core.train.finetune import DatasetInvalidError, run_finetune, task_records
from volta_core.train.metrics import mean_sd

TASK_OF_HEAD = {"segmentation": "seg", "sex": "sex", "ad": "ad"}


@dataclass
class MetricsTable:
    """Rows of metrics (one per fold, or one for the whole set) and their mean +- sd."""

    task: str
    rows: list[dict[str, Any]] = field(default_factory=list)

    def columns(self) -> list[str]:
        cols: list[str] = []
        for r in self.rows:
            cols += [k for k, v in r.items() if k not in cols and k != "fold" and isinstance(v, (int, float))]
        return cols

    def summary(self) -> dict[str, tuple[float, float]]:
        return {c: mean_sd([float(r[c]) for r in self.rows if c in r]) for c in self.columns()}

    def to_markdown(self) -> str:
        cols = self.columns()
        lines = ["| fold | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
        for r in self.rows:
            lines.append(f"| {r['fold']} | " + " | ".join(f"{float(r[c]):.4f}" if c in r else "-" for c in cols) + " |")
        if len(self.rows) > 1:
            s = self.summary()
            lines.append("| mean +- sd | " + " | ".join(f"{s[c][0]:.4f} +- {s[c][1]:.4f}" for c in cols) + " |")
        return "\n".join(lines)

    def write(self, out: Path) -> None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "metrics_table.md").write_text(self.to_markdown() + "\n", encoding="utf-8")
        (out / "metrics_table.json").write_text(json.dumps(
            {"task": self.task, "rows": self.rows,
             "summary": {k: {"mean": m, "sd": s} for k, (m, s) in self.summary().items()}}, indent=2,
            default=float), encoding="utf-8")


def bundle_task(card_heads: dict[str, dict[str, Any]]) -> str:
    """The task of the bundle's (single) trained head.

    Raises:
        BundleError: no trained head.
    """
    trained = [TASK_OF_HEAD[n] for n, h in card_heads.items() if h.get("trained")]
    if not trained:
        raise BundleError("the bundle has no trained head to evaluate; fine-tune it first or pass --folds")
    return trained[0]


def evaluate_bundle(data: str | Path, bundle: str | Path, out: str | Path, *, folds: int | None = None,
                    task: str | None = None, overrides: list[str] | None = None, seed: int = 0,
                    stream: Any = None) -> MetricsTable:
    """Evaluate (or cross-validate from) a bundle; writes ``metrics_table.md/json`` into ``out``.

    Raises:
        DatasetInvalidError: the dataset is not usable for the task.
        BundleError: the bundle is invalid.
    """
    out = Path(out)
    card, model = load_model(bundle)
    task = task or bundle_task(card.heads)
    base = {"task": task, "data_path": str(data), "init": str(bundle), "seed": seed,
            "model": {"encoder": card.architecture["encoder"],
                      "overrides": {k: v for k, v in card.architecture.get("overrides", {}).items() if k != "img_size"}},
            "data": {"spacing": float(card.input["spacing_mm"][0]), "size": [int(v) for v in card.input["size"]],
                     "normalisation": card.input["normalisation"],
                     # cards written before the space was recorded were all native-space
                     "space": card.input.get("space", "native"), "roi": card.input.get("roi")}}
    defaults = to_dict(FinetuneConfig())
    merged = {**defaults, **base, "data": {**defaults["data"], **base["data"]}}
    cfg = from_dict(FinetuneConfig, apply_overrides(merged, overrides or []))
    report = validate_dataset(data, task, min_per_class=max(1, folds or 1) if task != "seg" else 1)
    if not report.ok:
        raise DatasetInvalidError(report)
    records = task_records(report, task)
    table = MetricsTable(task=task)
    if not folds:
        seg = task == "seg"
        if (task == "seg") != (card.architecture.get("model") == "segmenter"):
            raise BundleError(f"the bundle's model ({card.architecture.get('model')}) cannot do task {task!r}")
        vols = PreparedVolumes(records, spacing=cfg.data.spacing, size=cfg.data.size,
                               normalisation=cfg.data.normalisation, with_masks=seg,
                               space=cfg.data.space, roi=cfg.data.roi)
        metrics = evaluate_model(model, SupervisedDataset(vols, task), task, choose_device(cfg.device), cfg.data.spacing)
        table.rows.append({"fold": "all", "n": len(records), **metrics})
    else:
        labels = None if task == "seg" else [r.sex if task == "sex" else r.diagnosis for r in records]
        for fold in subject_kfold([r.subject for r in records], folds, seed=seed, labels=labels):
            res = run_finetune(cfg, out / f"fold{fold.index}", stream=stream, split=(fold.train, fold.val))
            table.rows.append({"fold": fold.index, "n": len(fold.val), **res.metrics})
    table.write(out)
    return table

