from __future__ import annotations

import numpy as np
import pytest

from data_helpers import save_nifti
from volta_core.data.bids import index_bids
from volta_core.data.manifest import index_manifest
from volta_core.data.validate import validate_dataset

GOOD = np.zeros((8, 8, 8), np.uint8)
GOOD[1:3, 2:4, 2:4] = 1
GOOD[5:7, 2:4, 2:4] = 2


def test_valid_synthetic_dataset_has_counts(synth_root):
    seg = validate_dataset(synth_root, "seg")
    assert seg.ok, seg.summary()
    assert seg.class_counts == {"masked": 4}
    ad = validate_dataset(synth_root, "ad")
    assert ad.ok and ad.class_counts == {"CN": 2, "AD": 2}
    assert "No problems" in ad.summary()


def test_bids_sessions_and_dseg_masks(tmp_path):
    root = tmp_path / "b"
    for ses in ("ses-01", "ses-02"):
        save_nifti(root / "sub-a" / ses / "anat" / f"sub-a_{ses}_T1w.nii", np.ones((4, 4, 4), np.float32))
    save_nifti(root / "derivatives" / "fs" / "sub-a" / "ses-02" / "anat" / "sub-a_ses-02_dseg.nii.gz", np.zeros((4, 4, 4), np.uint8))
    (root / "participants.tsv").write_text("participant_id\tgender\tgroup\na\tFemale\tControl\n")
    ds = index_bids(root)
    assert [r.session for r in ds.records] == ["ses-01", "ses-02"]
    assert ds.records[1].mask is not None and ds.records[0].mask is None
    assert all(r.sex == "F" and r.diagnosis == "CN" for r in ds.records)


@pytest.fixture(scope="module")
def broken_report(tmp_path_factory):
    """One dataset with every kind of problem; validation must list them all in one report."""
    root = tmp_path_factory.mktemp("broken") / "bids"
    rows = ["participant_id\tsex\tdiagnosis"]
    bad_values = GOOD.copy()
    bad_values[0, 0, 0] = 17
    subjects = {
        "sub-01": ("M", "AD", GOOD),  # image made unreadable below
        "sub-02": ("F", "CN", np.zeros((8, 8, 9), np.uint8)),  # shape mismatch
        "sub-03": ("X", "CN", bad_values),  # unknown sex, mask values
        "sub-04": ("F", "Parkinson", None),  # unknown diagnosis, missing mask
        "sub-05": ("F", "CN", GOOD),  # affine mismatch below, duplicated row
    }
    for sub, (sex, dx, mask) in subjects.items():
        save_nifti(root / sub / "anat" / f"{sub}_T1w.nii.gz", np.random.default_rng(0).random((8, 8, 8)).astype(np.float32))
        if mask is not None:
            affine = np.diag([2.0, 1, 1, 1]) if sub == "sub-05" else None
            save_nifti(root / "derivatives" / "manual" / sub / "anat" / f"{sub}_desc-hippocampus_mask.nii.gz",
                       mask, affine)
        rows.append(f"{sub}\t{sex}\t{dx}")
    rows += ["sub-09\tM\tAD", "sub-05\tF\tCN"]  # listed without image; listed twice
    (root / "participants.tsv").write_text("\n".join(rows) + "\n")
    img = root / "sub-01" / "anat" / "sub-01_T1w.nii.gz"
    img.write_bytes(img.read_bytes()[:40])  # truncated gzip
    return validate_dataset(root, "seg", min_per_class=10)


@pytest.mark.parametrize("kind,subject,text", [
    ("unreadable_file", "sub-01", "sub-01_T1w"),
    ("shape_mismatch", "sub-02", "(8, 8, 9)"),
    ("mask_values", "sub-03", "17"),
    ("unknown_label", "sub-03", "'X'"),
    ("unknown_label", "sub-04", "Parkinson"),
    ("missing_mask", "sub-04", "no hippocampus mask"),
    ("affine_mismatch", "sub-05", "affines differ"),
    ("duplicate_subject", "sub-05", "more than once"),
    ("missing_file", "sub-09", "no anat"),
    ("too_few_samples", "", "class masked has"),
])
def test_each_problem_kind_is_reported(broken_report, kind, subject, text):
    assert not broken_report.ok
    matches = [p for p in broken_report.problems if p.kind == kind and p.subject == subject]
    assert matches, broken_report.summary()
    assert any(text in p.message or text in p.path for p in matches), matches
    assert text in broken_report.summary() or text in "".join(p.path for p in matches)


def test_all_problems_in_one_report(broken_report):
    assert len(broken_report.problems) == 10, broken_report.summary()
    assert broken_report.summary().count("\n  - ") == 10


def test_too_few_samples_per_class_for_classification(make_bids):
    root = make_bids({"sub-01": ("M", "AD", None), "sub-02": ("M", "CN", None), "sub-03": ("M", "CN", None)})
    report = validate_dataset(root, "sex", min_per_class=2)
    assert report.class_counts == {"M": 3}
    assert [p.kind for p in report.problems] == ["too_few_samples"]
    assert "class F has 0" in report.problems[0].message
    assert validate_dataset(root, "ad", min_per_class=1).ok


def test_manifest_duplicates_missing_files_and_labels(tmp_path):
    img = save_nifti(tmp_path / "img" / "a.nii.gz", np.ones((8, 8, 8), np.float32))
    save_nifti(tmp_path / "img" / "a_mask.nii.gz", GOOD)
    (tmp_path / "m.csv").write_text(
        "subject,image,mask,sex,diagnosis\n"
        "a,img/a.nii.gz,img/a_mask.nii.gz,male,Alzheimer's\n"
        "a,img/a.nii.gz,img/a_mask.nii.gz,male,Alzheimer's\n"
        f"b,{img},,female,HC\n"
        "c,img/missing.nii.gz,,F,CN\n")
    ds = index_manifest(tmp_path / "m.csv")
    assert ds.records[0].image == tmp_path / "img" / "a.nii.gz" and ds.records[0].sex == "M"
    assert ds.records[0].diagnosis == "AD" and ds.records[2].diagnosis == "CN"
    report = validate_dataset(tmp_path / "m.csv", "ad", min_per_class=1)
    assert {p.kind for p in report.problems} == {"duplicate_subject", "missing_file"}
    assert report.class_counts == {"AD": 2, "CN": 2}


def test_missing_label_for_classification(make_bids):
    root = make_bids({"sub-01": ("M", "", None), "sub-02": ("F", "AD", None)})
    report = validate_dataset(root, "ad", min_per_class=1)
    assert "missing_label" in report.kinds() and "too_few_samples" in report.kinds()
