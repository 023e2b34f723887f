from __future__ import annotations

import numpy as np
import pytest

from data_helpers import save_nifti
from volta_core.data.synthetic import write_synthetic_bids


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory):
    """A read-only 4-subject synthetic BIDS dataset (32^3 at 5 mm)."""
    return write_synthetic_bids(tmp_path_factory.mktemp("synth") / "bids", 4, shape=32, spacing=5.0)


@pytest.fixture
def make_bids(tmp_path):
    """Build a tiny BIDS tree: subjects -> (sex, diagnosis, mask array or None)."""

    def build(subjects: dict[str, tuple[str, str, object]], shape=(8, 8, 8)):
        root = tmp_path / "bids"
        rows = ["participant_id\tsex\tdiagnosis"]
        for sub, (sex, dx, mask) in subjects.items():
            save_nifti(root / sub / "anat" / f"{sub}_T1w.nii.gz", np.random.default_rng(0).random(shape).astype(np.float32))
            if mask is not None:
                save_nifti(root / "derivatives" / "manual" / sub / "anat" / f"{sub}_desc-hippocampus_mask.nii.gz",
                           np.asarray(mask, dtype=np.uint8))
            rows.append(f"{sub}\t{sex}\t{dx}")
        (root / "participants.tsv").write_text("\n".join(rows) + "\n")
        return root

    return build
