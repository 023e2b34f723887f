"""Fine-tuning's privacy and dataset faults (issue 15 items 7, 22 and 28), in process with real files."""

from __future__ import annotations

import hashlib
import json
import shutil

import pytest

from train_helpers import finetune_cfg, pretrain_cfg
from volta_core.data.bids import index_bids
from volta_core.data.manifest import ManifestError
from volta_core.data.validate import validate_dataset
from volta_core.train.finetune import run_finetune
from volta_core.train.pretrain import run_pretraining

SUBJECTS = ["DOE^JOHN_MRN111", "ROE^JANE_MRN222", "POE^EDGAR_MRN333", "LOVE^ADA_MRN444"]


def _identifying_manifest(cls_data, folder):
    """A .tsv manifest whose subject IDs are names and record numbers, with absolute image paths."""
    rows = ["subject\timage\tsex\tdiagnosis"]
    images = sorted(cls_data.glob("sub-*/anat/*_T1w.nii.gz"))[: len(SUBJECTS)]
    for subject, image, sex in zip(SUBJECTS, images, "FMFM"):
        rows.append(f"{subject}\t{image.resolve()}\t{sex}\tCN")
    path = folder / "patients.tsv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_card_holds_counts_and_hashes_and_resume_needs_no_init_folder(cls_data, tmp_path):
    """Items 7, 22 (a .tsv manifest is read as TSV) and 28.

    Pretraining and fine-tuning read the manifest; the starting model's folder is deleted after the run stopped: the resume takes every weight
    from its checkpoint. The card names neither a subject nor a path, the starting model only
    by its card's name and hash.
    """
    manifest = _identifying_manifest(cls_data, tmp_path)
    init = tmp_path / "pretrained"
    pre = pretrain_cfg("steps=1")
    pre.data_path = str(manifest)
    run_pretraining(pre, init, stream=None)
    init_card = init / "bundle" / "model_card.json"
    pre_text = init_card.read_text()
    for secret in (*SUBJECTS, "MRN", str(tmp_path), str(cls_data)):
        assert secret not in pre_text, secret
    assert json.loads(pre_text)["training_data"]["n_subjects"] == 4
    expected_init = {"name": json.loads(init_card.read_text())["name"],
                     "card_sha256": hashlib.sha256(init_card.read_bytes()).hexdigest()}

    def cfg():
        c = finetune_cfg(manifest, "sex", "steps=2", "mode=linear")
        c.init = str(init)
        return c

    run = tmp_path / "run"
    run.mkdir()
    (run / "STOP").touch()
    assert run_finetune(cfg(), run, stream=None).status == "stopped"
    shutil.rmtree(init)
    assert run_finetune(cfg(), run, stream=None, resume=True).status == "finished"

    text = (run / "bundle" / "model_card.json").read_text()
    for secret in (*SUBJECTS, "DOE", "MRN", str(tmp_path), str(cls_data), str(init), "patients.tsv"):
        assert secret not in text, secret
    data = json.loads(text)["training_data"]
    assert data["init"] == expected_init
    assert data["source"] == "CSV/TSV manifest" and data["train_n_subjects"] == 4 and data["n_train"] == 4
    files = sorted(hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(cls_data.glob("sub-*/anat/*_T1w.nii.gz"))[:4])
    assert data["train_data_sha256"] == hashlib.sha256("\n".join(files).encode()).hexdigest()


def test_a_participants_file_that_is_not_utf8_is_named(cls_data, tmp_path):
    """Item 22: the error names participants.tsv and says what to do, for indexing and validation."""
    data = tmp_path / "bids"
    shutil.copytree(cls_data, data)
    tsv = data / "participants.tsv"
    tsv.write_bytes(tsv.read_bytes() + "sub-099\tF\tCN\tJosé\n".encode("latin-1"))
    with pytest.raises(ManifestError, match="participants.tsv: it is not UTF-8") as info:
        index_bids(data)
    assert str(tsv) in str(info.value) and "UTF-8" in str(info.value)
    report = validate_dataset(data, "sex")
    assert not report.ok and any(str(tsv) in p.message for p in report.problems)
