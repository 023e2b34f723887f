"""A tiny segmenter bundle (real weights file + model card, random init) and small real scans."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch

from volta_core.io import Volume
from volta_core.contracts.model_card import DEFAULT_LABELS, ModelCard
from volta_core.model.bundle import save_bundle
from volta_core.model.networks import build_segmenter
from volta_core.preprocess.template import load_template

TINY_ENCODER = dict(embed_dim=32, depth=3, num_heads=2, patch_size=8, img_size=(48, 48, 48), out_indices=(1, 2, 3))
TINY_INPUT = {"spacing_mm": [4.0, 4.0, 4.0], "size": [48, 48, 48], "orientation": "RAS",
              "normalisation": "percentile", "space": "template"}


def tiny_card(name: str = "tiny-test-segmenter", trained: bool = False) -> ModelCard:
    return ModelCard(
        name=name,
        architecture={"encoder": "vit3d_tiny", "overrides": {**TINY_ENCODER, "img_size": list(TINY_ENCODER["img_size"]),
                                                             "out_indices": list(TINY_ENCODER["out_indices"])},
                      "model": "segmenter", "num_classes": 3,
                      "decoder": {"feature_size": 8, "tap_layers": [1, 2, 3]}},
        input=dict(TINY_INPUT),
        heads={"segmentation": {"trained": trained, "labels": DEFAULT_LABELS["segmentation"]},
               "sex": {"trained": False, "labels": DEFAULT_LABELS["sex"]},
               "ad": {"trained": False, "labels": DEFAULT_LABELS["ad"]}},
    )


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    model = build_segmenter("vit3d_tiny", feature_size=8, **TINY_ENCODER)
    path = tmp_path_factory.mktemp("bundle") / "tiny"
    save_bundle(path, model.state_dict(), tiny_card())
    return path


@pytest.fixture(scope="session")
def template_scan() -> Volume:
    """The shipped template T1 (1.5 mm, RAS): a real brain image that registers quickly."""
    template = load_template()
    return Volume(template.image.data.astype(np.float32), template.image.affine, {"format": "nifti"})


def reoriented_copy(volume: Volume, axcodes: str) -> Volume:
    """The same image stored in another axis order (exact, no interpolation)."""
    ornt_from = nib.orientations.io_orientation(volume.affine)
    ornt_to = nib.orientations.axcodes2ornt(tuple(axcodes))
    transform = nib.orientations.ornt_transform(ornt_from, ornt_to)
    data = nib.orientations.apply_orientation(volume.data, transform)
    affine = volume.affine @ nib.orientations.inv_ornt_aff(transform, volume.data.shape)
    return Volume(np.ascontiguousarray(data), affine, dict(volume.metadata))


def save_nifti(volume: Volume, path: Path) -> Path:
    nib.save(nib.Nifti1Image(volume.data, volume.affine), str(path))
    return path
