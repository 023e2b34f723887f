"""Intake of the recipe's real-data folders: every problem reported at once, nothing read twice."""

from __future__ import annotations

import gzip
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from volta_core.data.real_data import (
    RealDataError,
    check_label_maps,
    check_t1_folder,
    find_t1_scans,
    read_participants,
    sex_of,
)


def _label_map(path: Path, labels: dict[int, tuple[slice, slice, slice]], shape=(24, 24, 24), zoom=1.0) -> Path:
    data = np.zeros(shape, dtype=np.int16)
    for value, where in labels.items():
        data[where] = value
    nib.save(nib.Nifti1Image(data, np.diag([zoom, zoom, zoom, 1.0])), str(path))
    return path


GOOD = {2: (slice(2, 22), slice(2, 22), slice(2, 22)), 17: (slice(5, 9), slice(8, 14), slice(6, 9)),
        53: (slice(14, 18), slice(8, 14), slice(6, 9)), 507: (slice(0, 2), slice(0, 24), slice(0, 24))}


def test_label_maps_every_problem_at_once(tmp_path: Path) -> None:
    _label_map(tmp_path / "good_01.nii.gz", GOOD)
    _label_map(tmp_path / "good_02.nii.gz", GOOD)
    _label_map(tmp_path / "no_hippocampus.nii.gz", {2: GOOD[2]})
    _label_map(tmp_path / "coarse.nii.gz", GOOD, zoom=3.0)
    (tmp_path / "broken.nii.gz").write_bytes(gzip.compress(b"not a nifti at all" * 10))
    nib.save(nib.Nifti1Image(np.zeros((8, 8, 8, 2), np.int16), np.eye(4)), str(tmp_path / "four_d.nii.gz"))
    report = check_label_maps(tmp_path)
    assert [p.name for p in report.files] == ["good_01.nii.gz", "good_02.nii.gz"]
    text = "\n".join(report.problems)
    for name in ("no_hippocampus.nii.gz", "coarse.nii.gz", "broken.nii.gz", "four_d.nii.gz"):
        assert name in text
    assert len(report.problems) == 4
    with pytest.raises(RealDataError, match="4 problem"):
        report.raise_if_bad()


def test_label_maps_ok_and_digest_is_stable(tmp_path: Path) -> None:
    for i in range(3):
        _label_map(tmp_path / f"training_seg_{i:02d}.nii.gz", GOOD)
    first, second = check_label_maps(tmp_path), check_label_maps(tmp_path)
    assert first.ok and len(first.files) == 3
    assert first.digest == second.digest and len(first.digest) == 16
    assert str(tmp_path) not in first.digest


def test_missing_folder_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    report = check_label_maps(tmp_path / "nowhere")
    assert not report.ok and "not a folder" in report.problems[0]
    assert not check_t1_folder(tmp_path / "nowhere").ok


def _bids(root: Path, subjects: dict[str, str]) -> None:
    rows = ["participant_id\tage\tgender"]
    for sub, sex in subjects.items():
        anat = root / sub / "anat"
        anat.mkdir(parents=True)
        nib.save(nib.Nifti1Image(np.ones((8, 8, 8), np.float32), np.eye(4)), str(anat / f"{sub}_T1w.nii.gz"))
        rows.append(f"{sub}\t30\t{sex}")
    (root / "participants.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")


def test_t1_folder_sex_from_gender_column(tmp_path: Path) -> None:
    _bids(tmp_path, {"sub-01": "m", "sub-02": "f", "sub-03": "n/a"})
    assert [s for s, _ in find_t1_scans(tmp_path)] == ["sub-01", "sub-02", "sub-03"]
    rows = read_participants(tmp_path)
    assert sex_of(rows["sub-01"]) == "M" and sex_of(rows["sub-02"]) == "F" and sex_of(rows["sub-03"]) is None
    report = check_t1_folder(tmp_path, need_sex=True)
    assert len(report.files) == 2
    assert report.problems == ["sub-03_T1w.nii.gz: sub-03 has no sex (m/f) in participants.tsv"]


def test_non_utf8_participants_names_the_file(tmp_path: Path) -> None:
    _bids(tmp_path, {"sub-01": "m"})
    (tmp_path / "participants.tsv").write_bytes("participant_id\tgender\nsub-01\tm\xe4nnlich\n".encode("latin-1"))
    with pytest.raises(RealDataError, match="participants.tsv.*UTF-8"):
        read_participants(tmp_path)
    report = check_t1_folder(tmp_path, need_sex=True)
    assert any("participants.tsv" in p for p in report.problems)
