from __future__ import annotations

import csv
import json

import nibabel as nib
import numpy as np

from volta_core.data.synth import GridConfig, make_demo_cohort


def test_demo_cohort_is_valid_bids(tmp_path, synth_lib_all) -> None:
    root = make_demo_cohort(tmp_path / "demo", 4, seed=3, library=synth_lib_all, grid=GridConfig.whole(48, 4.0))
    rows = list(csv.DictReader((root / "participants.tsv").open(), delimiter="\t"))
    assert list(rows[0]) == ["participant_id", "sex", "diagnosis", "age"]
    assert [r["participant_id"] for r in rows] == ["sub-001", "sub-002", "sub-003", "sub-004"]
    assert {r["sex"] for r in rows} == {"M", "F"} and {r["diagnosis"] for r in rows} == {"CN", "AD"}
    assert all(60 <= float(r["age"]) <= 90 for r in rows)
    desc = json.loads((root / "dataset_description.json").read_text())
    assert "not for diagnosis" in desc["Name"] and desc["BIDSVersion"]
    assert "NOT real subjects" in (root / "README").read_text()
    for r in rows:
        sub = r["participant_id"]
        t1 = nib.load(str(root / sub / "anat" / f"{sub}_T1w.nii.gz"))
        mask = nib.load(str(root / "derivatives" / "synth" / sub / "anat" / f"{sub}_desc-hippocampus_mask.nii.gz"))
        assert t1.shape == mask.shape == (48, 48, 48)
        assert np.allclose(t1.affine, mask.affine) and nib.aff2axcodes(t1.affine) == ("R", "A", "S")
        m = np.asarray(mask.dataobj)
        assert set(np.unique(m).tolist()) == {0, 1, 2}
        assert np.asarray(t1.dataobj).max() > 100
    vols = list(csv.DictReader((root / "derivatives" / "synth" / "volumes.tsv").open(), delimiter="\t"))
    atrophy = {v["participant_id"]: float(v["ad_atrophy"]) for v in vols}
    volume = {v["participant_id"]: float(v["left_hippocampus_ml"]) + float(v["right_hippocampus_ml"]) for v in vols}
    for r in rows:  # AD subjects carry the simulated atrophy
        assert (atrophy[r["participant_id"]] >= 0.15) == (r["diagnosis"] == "AD")
    by_dx = {dx: np.mean([volume[r["participant_id"]] for r in rows if r["diagnosis"] == dx]) for dx in ("CN", "AD")}
    assert by_dx["AD"] < by_dx["CN"]
    assert 2 * 2.8 < by_dx["CN"] < 2 * 4.8  # calibrated to individual-like volumes (about 3.7 mL a side)
    again = make_demo_cohort(tmp_path / "again", 4, seed=3, library=synth_lib_all, grid=GridConfig.whole(48, 4.0))
    a = np.asarray(nib.load(str(root / "sub-002/anat/sub-002_T1w.nii.gz")).dataobj)
    b = np.asarray(nib.load(str(again / "sub-002/anat/sub-002_T1w.nii.gz")).dataobj)
    assert np.array_equal(a, b)
