"""``volta predict BIDS_DIR OUT_DIR participant|group`` (issue 16): real datasets, real processes.

The acceptance test (slow) runs one BIDS dataset, a synthetic cohort plus real-geometry scans
(oblique, LIA, 2 mm, a DICOM series, a corrupt file), as one run, as 2 SLURM-style shards and as a
real 2-rank torchrun, and requires the same volumes.tsv from all three. The default tests cover the
outputs, the label filters, missing subjects, reruns and the usage errors with few model runs.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from tests.core.infer.bids_helpers import (
    PARTICIPANTS,
    cohort_scan,
    full_dataset,
    read_tsv,
    volta,
    write_description,
)
from tests.core.infer.predict_helpers import assert_no_traceback, write_broken
from volta_core.infer.bids_app.group import merge
from volta_core.infer.bids_app.participant import LAYOUT
from volta_core.infer.bids_app.scans import BidsInputError, find_scans
from volta_core.infer.bids_app.shard import Shard, ShardError, parse_shard, resolve_shard
from volta_core.infer.results_store import ScanRecord

HAVE_REPORT = importlib.util.find_spec("volta_core.report") is not None


# ----------------------------------------------------------------------------- shards (no processes)
def test_shard_k_of_n_is_one_based_and_parts_cover_the_list_once():
    assert parse_shard("1/4") == (0, 4) and parse_shard(" 4/4 ") == (3, 4)
    for bad in ("0/4", "5/4", "4", "a/b", "1/0", "-1/2"):
        with pytest.raises(ShardError, match="1-based"):
            parse_shard(bad)
    items = list(range(23))
    parts = [Shard(k, 5).select(items) for k in range(5)]
    assert sorted(x for part in parts for x in part) == items  # disjoint and covering
    assert max(map(len, parts)) - min(map(len, parts)) <= 1


def test_slurm_array_variables_and_torchrun_ranks_compose():
    env = {"SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_COUNT": "4"}
    shard, placement = resolve_shard(None, env)
    assert (shard.index, shard.count) == (2, 4) and not placement.distributed
    stepped = {"SLURM_ARRAY_TASK_ID": "20", "SLURM_ARRAY_TASK_MIN": "10", "SLURM_ARRAY_TASK_STEP": "5",
               "SLURM_ARRAY_TASK_COUNT": "3"}
    assert resolve_shard(None, stepped)[0].index == 2
    assert resolve_shard("1/2", env)[0].count == 2  # --shard wins over SLURM
    with pytest.raises(ShardError, match="range array"):
        resolve_shard(None, {**env, "SLURM_ARRAY_TASK_ID": "9"})
    ranks = {"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"}
    shard, placement = resolve_shard(None, {**env, **ranks})
    assert (shard.index, shard.count) == (2 * 2 + 1, 8) and placement.local_rank == 1
    assert placement.threads(cores=16) == 8 and placement.threads(cores=1) == 1
    assert resolve_shard(None, {})[0] == Shard()


# ----------------------------------------------------------------------------- discovery (no processes)
def test_scans_keep_their_entities_and_label_filters_choose_them(tmp_path: Path):
    for rel in ("sub-01/anat/sub-01_T1w.nii.gz", "sub-02/ses-1/anat/sub-02_ses-1_run-1_T1w.nii",
                "sub-02/ses-2/anat/sub-02_ses-2_acq-fast_run-2_T1w.nii.gz", "sub-02/ses-2/anat/sub-02_ses-2_T2w.nii.gz",
                "sub-03/anat/sub-03_T1w/1.dcm", "derivatives/x/sub-01/anat/sub-01_T1w.nii.gz"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    scans = find_scans(tmp_path)
    assert [s.scan_id for s in scans] == ["sub-01_T1w", "sub-02_ses-1_run-1_T1w", "sub-02_ses-2_acq-fast_run-2_T1w",
                                          "sub-03_T1w"]
    assert scans[2].entities == {"sub": "02", "ses": "2", "acq": "fast", "run": "2"}
    assert scans[2].folder == "sub-02/ses-2"
    assert scans[3].path.is_dir()  # a DICOM series folder
    assert [s.scan_id for s in find_scans(tmp_path, participants=["02"], sessions=["ses-2"])] == [
        "sub-02_ses-2_acq-fast_run-2_T1w"]
    with pytest.raises(BidsInputError, match="sub-07"):
        find_scans(tmp_path, participants=["sub-07"])
    with pytest.raises(BidsInputError, match="ses-9"):
        find_scans(tmp_path, sessions=["9"])
    with pytest.raises(BidsInputError, match="not a BIDS dataset"):
        find_scans(tmp_path / "sub-01")


def test_group_merge_reports_missing_and_failed_and_joins_participants(tmp_path: Path):
    for rel in ("sub-01/anat/sub-01_T1w.nii.gz", "sub-02/anat/sub-02_T1w.nii.gz", "sub-03/anat/sub-03_T1w.nii.gz"):
        (tmp_path / rel).parent.mkdir(parents=True)
        (tmp_path / rel).write_bytes(b"x")
    scans = find_scans(tmp_path)
    ok = ScanRecord(key=str(scans[0].path.resolve()), stem="sub-01_T1w", source="s", status="ok", model_hash="h" * 64,
                    options={"tta": False, "layout": LAYOUT}, row={"hippocampus_left_ml": "3.1000"},
                    outputs=["sub-01/anat/sub-01_desc-hippocampus_dseg.nii.gz"])
    failed = ScanRecord(key=str(scans[1].path.resolve()), stem="sub-02_T1w", source="s", status="failed",
                        error="broken\tfile", options={"layout": LAYOUT})
    gone = ScanRecord(key="/elsewhere/sub-04_T1w.nii.gz", stem="sub-04_T1w", source="s", status="ok",
                      options={"layout": LAYOUT}, row={"hippocampus_left_ml": "2.0"})
    participants = {"sub-01": {"age": "70", "sex": "F", "status": "x"}, "sub-05": {"age": "n/a", "sex": "M"}}
    header, rows = merge(scans, [ok, failed, gone], ["age", "sex", "status"], participants,
                         {"sub-01_T1w": {"qc_rating": "fail", "qc_note": "motion"}})
    assert header[:7] == ["participant_id", "session_id", "scan_id", "age", "sex", "group", "participant_status"]
    by = {(r["participant_id"], r["scan_id"]): r for r in rows}
    assert by["sub-01", "sub-01_T1w"]["hippocampus_left_ml"] == "3.1000" and by["sub-01", "sub-01_T1w"]["age"] == "70"
    assert (by["sub-01", "sub-01_T1w"]["qc_rating"], by["sub-01", "sub-01_T1w"]["qc_note"]) == ("fail", "motion")
    assert by["sub-02", "sub-02_T1w"]["status"] == "failed" and by["sub-02", "sub-02_T1w"]["error"] == "broken file"
    assert by["sub-03", "sub-03_T1w"]["status"] == "missing"           # no record: not processed
    assert by["sub-04", "sub-04_T1w"]["status"] == "ok"                # a record is never dropped
    assert by["sub-05", "n/a"]["status"] == "missing" and by["sub-05", "n/a"]["sex"] == "M"
    assert all("\t" not in v and v for r in rows for v in r.values())  # every cell filled, n/a when empty


# ----------------------------------------------------------------------------- the CLI (real processes)
def test_usage_errors_give_one_message_and_exit_2(tmp_path: Path, tiny_bundle: Path):
    bids = tmp_path / "bids"
    write_broken(bids / "sub-01/anat/sub-01_T1w.nii.gz")
    cases = [
        ((bids, tmp_path / "o", "participant", "--participant-label", "07"), "participant label(s) not in"),
        ((bids, tmp_path / "o", "participant", "--shard", "3/2"), "1-based"),
        ((bids, bids, "participant"), "must not be the BIDS dataset"),
        ((bids, tmp_path / "o", "participant", "--out", tmp_path / "x"), "drop --out"),
        ((bids / "sub-01/anat/sub-01_T1w.nii.gz", "--shard", "1/2", "--out", tmp_path / "f"), "only apply to the BIDS"),
        ((bids,), "required: --out"),
        ((tmp_path / "nothing", tmp_path / "o", "participant"), "is not a folder"),
        ((bids, tmp_path / "never-run", "group"), "run 'volta predict"),
    ]
    for args, message in cases:
        proc = volta(*args, model=tiny_bundle if "participant" in map(str, args) else None)
        assert proc.returncode == 2 and message in proc.stderr, (args, proc.stderr[-2000:])
        assert_no_traceback(proc)


def test_participant_with_labels_then_group_reports_the_rest_as_missing(tmp_path: Path, tiny_bundle: Path):
    bids = tmp_path / "bids"
    cohort_scan(bids / "sub-01/anat/sub-01_T1w.nii.gz", 1)
    source = cohort_scan(bids / "sub-02/ses-1/anat/sub-02_ses-1_acq-fast_run-1_T1w.nii.gz", 2)
    cohort_scan(bids / "sub-02/ses-2/anat/sub-02_ses-2_T1w.nii.gz", 3)
    (bids / "participants.tsv").write_text(PARTICIPANTS)
    write_description(bids)
    out = tmp_path / "derivatives" / "volta"

    proc = volta(bids, out, "participant", "--participant-label", "02", "--session-label", "ses-1", model=tiny_bundle)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert_no_traceback(proc)
    assert proc.stderr.count("volta_core.report is not installed") == (0 if HAVE_REPORT else 1)
    prefix = out / "sub-02/ses-1/anat/sub-02_ses-1_acq-fast_run-1_desc-hippocampus"
    labels, scan = nib.load(f"{prefix}_dseg.nii.gz"), nib.load(source)
    assert labels.shape == scan.shape and np.allclose(labels.affine, scan.affine)  # the scan's own grid
    assert (prefix.parent / f"{prefix.name}_dseg.tsv").read_text().splitlines()[:2] == [
        "index\tname\tabbreviation\tcolor", "1\tleft hippocampus\tL-Hip\t" + ("#ff8c1a" if HAVE_REPORT else "n/a")]
    sidecar = json.loads((prefix.parent / f"{prefix.name}_dseg.json").read_text())
    assert sidecar["Sources"] == ["bids:raw:sub-02/ses-1/anat/sub-02_ses-1_acq-fast_run-1_T1w.nii.gz"]
    assert len(sidecar["Model"]["card_hash"]) == 64 and sidecar["Options"]["layout"] == LAYOUT
    assert {"VolumesMl", "IcvMl", "HippocampalOccupancy", "Probabilities", "QcWarnings"} <= set(sidecar)
    description = json.loads((out / "dataset_description.json").read_text())
    assert description["DatasetType"] == "derivative" and description["BIDSVersion"]
    assert description["GeneratedBy"][0]["ModelHash"] == sidecar["Model"]["card_hash"]
    assert description["GeneratedBy"][0]["ModelName"] == "tiny-test-segmenter"
    png = out / "sub-02/ses-1/figures/sub-02_ses-1_acq-fast_run-1_T1w_qc.png"
    assert png.is_file() == HAVE_REPORT

    group = volta(bids, out, "group")
    assert group.returncode == 0, group.stderr[-3000:]
    rows = {(r["participant_id"], r["scan_id"]): r for r in read_tsv(out / "volumes.tsv")}
    assert set(rows) == {("sub-01", "sub-01_T1w"), ("sub-02", "sub-02_ses-1_acq-fast_run-1_T1w"),
                         ("sub-02", "sub-02_ses-2_T1w"), *((f"sub-0{i}", "n/a") for i in range(3, 10))}
    done = rows["sub-02", "sub-02_ses-1_acq-fast_run-1_T1w"]
    assert (done["status"], done["session_id"], done["age"], done["sex"], done["group"], done["site"]) == (
        "ok", "ses-1", "64", "M", "CN", "B")
    assert float(done["hippocampus_left_ml"]) >= 0 and float(done["icv_ml"]) > 0
    assert done["dseg"] == f"{prefix.relative_to(out).as_posix()}_dseg.nii.gz"
    assert rows["sub-01", "sub-01_T1w"]["status"] == "missing" and "missing: sub-01_T1w" in group.stderr
    assert rows["sub-09", "n/a"]["status"] == "missing" and "missing: sub-09" in group.stderr
    if HAVE_REPORT:
        assert (out / "qc" / "index.html").is_file() and (out / "group_report.pdf").is_file()
    else:
        assert "no QC gallery or group report" in group.stderr


def test_rerun_skips_finished_scans_and_retries_failed_ones(tmp_path: Path, tiny_bundle: Path):
    bids = tmp_path / "bids"
    cohort_scan(bids / "sub-01/anat/sub-01_T1w.nii.gz", 1)
    broken = write_broken(bids / "sub-02/anat/sub-02_T1w.nii.gz")
    out = tmp_path / "out"
    first = volta(bids, out, "participant", model=tiny_bundle)
    assert first.returncode == 0 and "1 ok, 1 failed, 0 already done" in first.stderr, first.stderr[-3000:]
    done = out / "records" / "sub-01_T1w.json"
    stamp = done.stat().st_mtime_ns

    second = volta(bids, out, "participant", model=tiny_bundle)
    assert "0 ok, 1 failed, 1 already done" in second.stderr and second.returncode == 1, second.stderr[-3000:]
    assert done.stat().st_mtime_ns == stamp  # the finished scan was not redone

    cohort_scan(broken, 2)  # the user replaces the damaged file
    third = volta(bids, out, "participant", model=tiny_bundle)
    assert "1 ok, 0 failed, 1 already done" in third.stderr and third.returncode == 0, third.stderr[-3000:]
    assert volta(bids, out, "group").returncode == 0
    assert [r["status"] for r in read_tsv(out / "volumes.tsv")] == ["ok", "ok"]


# ----------------------------------------------------------------------------- acceptance (slow)
@pytest.mark.slow
def test_one_run_slurm_shards_and_torchrun_give_identical_volumes(tmp_path: Path, tiny_bundle: Path):
    bids = full_dataset(tmp_path / "bids")
    tables = {}
    single = volta(bids, tmp_path / "single", "participant", model=tiny_bundle)
    assert single.returncode == 0, single.stderr[-3000:]
    for task in ("1", "2"):  # sbatch --array=1-2
        slurm = {"SLURM_ARRAY_TASK_ID": task, "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_COUNT": "2"}
        proc = volta(bids, tmp_path / "slurm", "participant", model=tiny_bundle, env=slurm)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert f"part {task} of 2 (SLURM array task {task})" in proc.stderr
    torchrun = (sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2")
    ranks = volta(bids, tmp_path / "torchrun", "participant", model=tiny_bundle, launcher=torchrun)
    assert ranks.returncode == 0 and "torchrun rank 1 of 2" in ranks.stderr, ranks.stderr[-3000:]
    for name in ("single", "slurm", "torchrun"):
        group = volta(bids, tmp_path / name, "group")
        assert group.returncode == 0, group.stderr[-3000:]
        assert_no_traceback(group)
        tables[name] = (tmp_path / name / "volumes.tsv").read_text()
    assert tables["single"] == tables["slurm"] == tables["torchrun"]
    rows = read_tsv(tmp_path / "single" / "volumes.tsv")
    status = {r["scan_id"]: r["status"] for r in rows}
    assert status.pop("sub-08_T1w") == "failed" and status.pop("n/a") == "missing"  # the corrupt file; sub-09
    assert len(status) == 8 and set(status.values()) == {"ok"}, status  # nothing else lost
    for name in ("slurm", "torchrun"):
        assert sorted(p.name for p in (tmp_path / name / "records").iterdir()) == sorted(
            p.name for p in (tmp_path / "single" / "records").iterdir())


def test_qc_figure_input_is_the_scan_in_ras_voxel_order_with_its_zooms():
    from volta_core.infer.bids_app.derivatives import derivative_prefix, ras_voxel_order

    data = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)
    lia = np.array([[-1.0, 0, 0, 0], [0, 0, 2.0, 0], [0, -3.0, 0, 0], [0, 0, 0, 1]])  # L, I, A with 1/3/2 mm
    ras, zooms = ras_voxel_order(data, lia)
    assert ras.shape == (2, 4, 3) and zooms == (1.0, 2.0, 3.0)
    assert ras[0, 0, 0] == data[1, 2, 0]  # the left-most, posterior, inferior voxel comes first
    assert derivative_prefix("sub-01_ses-2_acq-fast_run-3_T1w") == "sub-01_ses-2_acq-fast_run-3_desc-hippocampus"
