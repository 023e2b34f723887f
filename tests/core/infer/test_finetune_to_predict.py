"""A model made by `volta finetune` is used by `volta predict`: training and inference see the same inputs.

The segmenter overfits two synthetic subjects; predicting those subjects through the whole
predict pipeline (read, preprocess, model, map back to the scan grid) must give back their
masks. If training and inference prepared scans differently, the Dice would collapse.
"""

from __future__ import annotations

import pytest

import csv
from pathlib import Path

import nibabel as nib
import numpy as np

from volta_core.cli import main as volta

TINY = ["data.size=32", "data.spacing=2.5", "device=cpu", "threads=1", "val_fraction=0", "augment=false",
        "optim.warmup_steps=5", "optim.lr=1e-2", "optim.min_lr=1e-3", "layer_decay=1.0", "min_per_class=1",
        "checkpoint_every=1000", "seg_feature_size=8", "epochs=100",
        "model.overrides={patch_size: 8, embed_dim: 32, depth: 2, num_heads: 2, out_indices: [1, 2, 2]}"]


@pytest.mark.slow  # 25-45 s on 2 cores: keeps the default run near 15 min
def test_finetuned_bundle_predicts_its_training_masks(tmp_path: Path):
    bids = tmp_path / "bids"
    assert volta(["synth-data", str(bids), "--subjects", "2", "--shape", "40", "--spacing", "2.5"]) == 0
    run = tmp_path / "run"
    assert volta(["finetune", "--task", "seg", "--data", str(bids), "--out", str(run), *TINY]) == 0
    out = tmp_path / "pred"
    assert volta(["predict", str(bids), "--out", str(out), "--model", str(run / "bundle"), "--device", "cpu",
                  "--quiet"]) == 0
    with open(out / "results.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2 and all(r["status"] == "ok" for r in rows)
    for row in rows:
        subject = row["scan"].split("_")[0]
        truth = next((bids / "derivatives").rglob(f"{subject}_*mask*.nii*"))
        ref = nib.load(str(truth))
        pred = nib.load(str(out / f"{row['scan']}_hippocampus_mask.nii.gz"))
        assert pred.shape == ref.shape
        np.testing.assert_allclose(pred.affine, ref.affine, atol=1e-4)
        a, b = np.asarray(pred.dataobj), np.asarray(ref.dataobj)
        for label in (1, 2):
            dice = 2 * np.sum((a == label) & (b == label)) / (np.sum(a == label) + np.sum(b == label))
            assert dice > 0.8, (row["scan"], label, dice)
