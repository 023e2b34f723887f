"""Tiny but REAL trained models for tests, made in seconds from the shipped template.

``train_template_segmenter`` trains a small ViT + UNETR segmenter on the template T1 and its
hippocampus labels (resources/templates) in template space, on a region of interest around
the hippocampi, with intensity and shift augmentations. Because prediction registers every scan
to the template first, this model finds the hippocampus on real scans (e.g. the fsaverage
sample) well enough for pipeline, consistency and GUI tests. It is not the shipped model.
"""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from volta_core.io import Volume
from volta_core.contracts.model_card import DEFAULT_LABELS, ModelCard
from volta_core.model.bundle import save_bundle
from volta_core.model.networks import build_segmenter
from volta_core.preprocess.pipeline import ModelInputSpec, preprocess
from volta_core.preprocess.register import RegistrationResult
from volta_core.preprocess.template import load_template

PRIOR_FILE = "icbm2009c_hippocampus_1p5mm.nii.gz"
ROI_INPUT = {"spacing_mm": [2.0, 2.0, 2.0], "size": [48, 32, 32], "orientation": "RAS",
             "normalisation": "percentile", "space": "template", "roi": "hippocampus"}
ROI_ENCODER = dict(embed_dim=48, depth=3, num_heads=3, patch_size=8, img_size=(48, 32, 32), out_indices=(1, 2, 3))


def template_training_pair(spec: ModelInputSpec) -> tuple[np.ndarray, np.ndarray]:
    """Template T1 and hippocampus labels (0/1/2) on the model grid of ``spec``."""
    template = load_template()
    prior = nib.load(str(Path(template.image.source).parent / PRIOR_FILE))
    volume = Volume(template.image.data.astype(np.float32), template.image.affine)
    prep = preprocess(volume, spec, template=template, registration=RegistrationResult.identity())
    labels = prep.record.to_model(np.asarray(prior.dataobj).astype(np.uint8), order=0)
    return prep.data, labels.astype(np.int64)


def _zoom(image: np.ndarray, labels: np.ndarray, factor: float) -> tuple[np.ndarray, np.ndarray]:
    """Scale the content about the grid centre (factor > 1 enlarges the anatomy)."""
    centre = (np.asarray(image.shape) - 1) / 2
    matrix = np.eye(3) / factor
    offset = centre - matrix @ centre
    img = ndimage.affine_transform(image, matrix, offset, order=1, mode="nearest")
    lab = ndimage.affine_transform(labels, matrix, offset, order=0, mode="constant")
    return img, lab


def _augment(image: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    # registration leaves a few % of scale error: the model must segment the anatomy it sees,
    # not a template-sized blob, or volumes would follow the registration's scale
    image, labels = _zoom(image, labels, rng.uniform(0.88, 1.12))
    img = np.clip(image, 0, 1) ** rng.uniform(0.6, 1.6)
    img = img * rng.uniform(0.8, 1.2) + rng.uniform(-0.1, 0.1)
    img = img + rng.normal(0, rng.uniform(0, 0.06), img.shape)
    shift = rng.integers(-3, 4, size=3)
    img, lab = np.roll(img, shift, axis=(0, 1, 2)), np.roll(labels, shift, axis=(0, 1, 2))
    if rng.random() < 0.5:  # mirror left/right: labels swap sides
        img, lab = img[::-1], np.where(lab == 1, 2, np.where(lab == 2, 1, 0))[::-1]
    return np.ascontiguousarray(img, dtype=np.float32), np.ascontiguousarray(lab)


def _dice_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    probs = torch.softmax(logits, dim=1)[:, 1:]
    onehot = F.one_hot(target, 3).permute(0, 4, 1, 2, 3)[:, 1:].float()
    inter = (probs * onehot).sum(dim=(2, 3, 4))
    return 1 - ((2 * inter + 1) / (probs.sum(dim=(2, 3, 4)) + onehot.sum(dim=(2, 3, 4)) + 1)).mean()


def train_template_segmenter(out_dir: str | Path, *, steps: int = 150, seed: int = 0,
                             name: str = "tiny-template-segmenter") -> Path:
    """Train and save a bundle; returns its folder. About 10-30 s on 2 CPU cores."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    spec = ModelInputSpec(spacing=tuple(ROI_INPUT["spacing_mm"]), size=tuple(ROI_INPUT["size"]),  # type: ignore[arg-type]
                          space="template", roi="hippocampus")
    image, labels = template_training_pair(spec)
    model = build_segmenter("vit3d_tiny", feature_size=8, **ROI_ENCODER)
    optimiser = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    model.train()
    for _ in range(steps):
        batch = [_augment(image, labels, rng) for _ in range(2)]
        x = torch.from_numpy(np.stack([b[0] for b in batch]))[:, None]
        y = torch.from_numpy(np.stack([b[1] for b in batch]))
        logits = model(x)["logits"]
        loss = F.cross_entropy(logits, y) + _dice_loss(logits, y)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    model.eval()
    with torch.no_grad():
        pred = model(torch.from_numpy(image)[None, None])["logits"].argmax(1)[0].numpy()
    dice = {side: float(2 * np.sum((pred == c) & (labels == c)) / max(1, np.sum(pred == c) + np.sum(labels == c)))
            for side, c in (("left", 1), ("right", 2))}
    card = ModelCard(
        name=name,
        architecture={"encoder": "vit3d_tiny",
                      "overrides": {**ROI_ENCODER, "img_size": list(ROI_ENCODER["img_size"]),
                                    "out_indices": list(ROI_ENCODER["out_indices"])},
                      "model": "segmenter", "num_classes": 3,
                      "decoder": {"feature_size": 8, "tap_layers": [1, 2, 3]}},
        input=dict(ROI_INPUT),
        heads={"segmentation": {"trained": True, "labels": DEFAULT_LABELS["segmentation"]},
               "sex": {"trained": False, "labels": DEFAULT_LABELS["sex"]},
               "ad": {"trained": False, "labels": DEFAULT_LABELS["ad"]}},
        training_data={"source": "shipped template + DK hippocampus labels only (test model)", "steps": steps},
        metrics={"training_dice": dice, "protocol": "Dice on the un-augmented training image (test model)"},
    )
    return save_bundle(Path(out_dir) / name, model.state_dict(), card)
