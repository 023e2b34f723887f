"""``volta predict`` under hostile input and faults (issue 15): real files, real processes.

Each test names the issue item it reproduces. Scans are the template at 4.5 mm (seconds each);
inputs that only need to fail are truncated files, so no model runs for them.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.core.infer.predict_helpers import (
    ENV,
    assert_no_traceback,
    copy_bundle,
    leaked_lines,
    predict,
    rows,
    small_brain,
    unprivileged,
    write_broken,
    write_scan,
)


def _all_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


# ------------------------------------------------------------------------- items 1 and 25
def test_rows_of_other_runs_are_kept_and_files_get_ordinary_modes(tmp_path: Path, tiny_bundle: Path):
    """Item 1: ``predict A --out o; predict B --out o`` kept only B. Item 25: JSON/CSV were 0600."""
    out = tmp_path / "out"
    a = write_scan(tmp_path / "in" / "a.nii.gz")
    b = write_broken(tmp_path / "in" / "b.nii.gz")
    first = predict(a, "--out", out, model=tiny_bundle, preexec_fn=lambda: os.umask(0o027))
    assert first.returncode == 0, first.stderr[-3000:]
    second = predict(b, "--out", out, model=tiny_bundle, preexec_fn=lambda: os.umask(0o027))
    assert second.returncode == 1 and "0 ok, 1 failed" in second.stderr  # b itself failed ...
    assert_no_traceback(second)
    got = rows(out)
    assert set(got) == {"a", "b"}                                        # ... and a's row is still there
    assert got["a"]["status"] == "ok" and got["b"]["status"] == "failed"
    assert (out / "a_hippocampus_mask.nii.gz").is_file() and (out / "records" / "a.json").is_file()
    modes = {p.relative_to(out).as_posix(): stat.S_IMODE(p.stat().st_mode) for p in _all_files(out)}
    assert set(modes.values()) == {0o640}, modes  # 0666 minus the umask, masks, JSON and CSV alike


# ------------------------------------------------------------------------- item 2
def test_concurrent_runs_into_one_folder_keep_every_row(tmp_path: Path, tiny_bundle: Path):
    out = tmp_path / "out"
    groups = [[write_broken(tmp_path / f"in{g}" / f"s{g}{i}.nii.gz") for i in range(3)] for g in range(2)]
    command = [sys.executable, "-m", "volta_core.cli", "predict", "--out", str(out), "--model", str(tiny_bundle),
               "--device", "cpu", "--threads", "1", "--quiet"]
    procs = [subprocess.Popen([*command, *map(str, group)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=ENV) for group in groups]
    results = [p.communicate(timeout=300) for p in procs]
    for proc, (_, err) in zip(procs, results):
        assert proc.returncode == 1 and "Traceback" not in err, err[-3000:]  # every scan failed: exit 1
    assert set(rows(out)) == {f"s{g}{i}" for g in range(2) for i in range(3)}


# ------------------------------------------------------------------------- item 3
def test_colliding_names_get_unique_stable_stems(tmp_path: Path, tiny_bundle: Path):
    data, affine = small_brain()
    names = ["a b", "a_b", "a_b_2"]
    for i, name in enumerate(names):  # three different scans (the right half dimmed differently)
        scan = data.copy()
        scan[: scan.shape[0] // 2] *= 1.0 - 0.1 * i
        write_scan(tmp_path / "in" / f"{name}.nii.gz", scan, affine)
    out = tmp_path / "out"
    proc = predict(tmp_path / "in", "--out", out, model=tiny_bundle)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = rows(out)
    assert len(got) == 3 and {Path(r["source"]).name for r in got.values()} == {f"{n}.nii.gz" for n in names}
    by_source = {Path(r["source"]).name: stem for stem, r in got.items()}
    assert by_source["a_b.nii.gz"] == "a_b" and by_source["a_b_2.nii.gz"] == "a_b_2"  # safe names are kept
    assert by_source["a b.nii.gz"].startswith("a_b-")  # a changed name always carries a path hash
    masks = sorted(p.name for p in out.glob("*_hippocampus_mask.nii.gz"))
    assert masks == sorted(f"{stem}_hippocampus_mask.nii.gz" for stem in got)
    again = predict(tmp_path / "in", "--out", out, model=tiny_bundle)  # stable: the same stems, nothing redone
    assert again.returncode == 0 and "3 already done" in again.stderr, again.stderr[-3000:]
    assert rows(out).keys() == got.keys()


# ------------------------------------------------------------------------- item 4
def test_another_model_or_tta_recomputes(tmp_path: Path, tiny_bundle: Path):
    scan = write_scan(tmp_path / "t1.nii.gz")
    out = tmp_path / "out"
    assert predict(scan, "--out", out, model=tiny_bundle).returncode == 0
    first = rows(out)["t1"]
    other = copy_bundle(tiny_bundle, tmp_path / "other", name="other-model")
    proc = predict(scan, "--out", out, model=other)
    assert proc.returncode == 0 and "0 already done" in proc.stderr, proc.stderr[-3000:]
    row = rows(out)["t1"]
    assert row["model"] == "other-model" and row["model_hash"] != first["model_hash"] and row["tta"] == "no"
    proc = predict(scan, "--out", out, "--tta", model=other)
    assert proc.returncode == 0 and "0 already done" in proc.stderr
    assert rows(out)["t1"]["tta"] == "yes"
    record = json.loads((out / "records" / "t1.json").read_text())
    assert record["options"]["tta"] is True and len(record["model_hash"]) == 64
    proc = predict(scan, "--out", out, "--tta", model=other)
    assert proc.returncode == 0 and "1 already done" in proc.stderr


# ------------------------------------------------------------------------- item 5
def test_stray_dcm_does_not_swallow_a_folder_of_niftis(tmp_path: Path, tiny_bundle: Path):
    folder = tmp_path / "scans"
    write_scan(folder / "good.nii.gz")
    (folder / "junk.dcm").write_bytes(b"\x00" * 300)
    out = tmp_path / "out"
    proc = predict(folder, "--out", out, model=tiny_bundle)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = rows(out)
    assert got["good"]["status"] == "ok"
    assert got["junk"]["status"] == "failed" and "junk.dcm" in got["junk"]["error"]


# ------------------------------------------------------------------------- items 6 and 23 (scale, warnings)
def test_outlier_voxel_and_absurd_scales_give_the_clean_numbers(tmp_path: Path, tiny_bundle: Path):
    data, affine = small_brain()
    outlier = data.copy()
    outlier[3, 3, 3] = -1e6
    scans = {"clean": data, "outlier": outlier, "x1e30": data * np.float32(1e30),
             "x3e38": (data / data.max() * np.float32(3e38)).astype(np.float32)}
    for name, values in scans.items():
        write_scan(tmp_path / "in" / f"{name}.nii.gz", values, affine)
    out = tmp_path / "out"
    proc = predict(tmp_path / "in", "--out", out, model=tiny_bundle)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert leaked_lines(proc.stderr) == []  # numpy overflow warnings and the like stay in the records
    got = rows(out)
    clean = got["clean"]
    for name in ("outlier", "x1e30", "x3e38"):
        row = got[name]
        assert row["status"] == "ok"
        assert float(row["icv_ml"]) == pytest.approx(float(clean["icv_ml"]), rel=0.01), name
        total = float(clean["hippocampus_total_ml"])
        assert float(row["hippocampus_total_ml"]) == pytest.approx(total, rel=0.02, abs=0.05), name
        assert np.isfinite(float(row["registration_quality"])), name
        assert "not a head" not in row["qc_warnings"], name
    assert "extreme intensities" in got["outlier"]["qc_warnings"]
    assert "extreme intensities" not in clean["qc_warnings"]


# ------------------------------------------------------------------------- item 8
def test_unreadable_folder_among_inputs_is_reported_and_skipped(tmp_path: Path, tiny_bundle: Path):
    locked = tmp_path / "locked"
    write_broken(locked / "x.nii.gz")
    other = write_broken(tmp_path / "other" / "y.nii.gz")
    out = tmp_path / "out"
    locked.chmod(0)
    try:
        proc = predict(locked, other.parent, "--out", out, model=tiny_bundle, preexec_fn=unprivileged())
    finally:
        locked.chmod(0o755)
    assert_no_traceback(proc)
    assert proc.returncode == 1  # nothing succeeded, but the batch ran to its end
    got = rows(out)
    assert got["y"]["status"] == "failed"
    assert got["locked"]["status"] == "failed" and "could not be listed" in got["locked"]["error"]


# ------------------------------------------------------------------------- item 9
def test_out_that_is_a_file_or_read_only_is_a_clear_error(tmp_path: Path, tiny_bundle: Path):
    scan = write_broken(tmp_path / "s.nii.gz")
    target = tmp_path / "results.txt"
    target.write_text("not a folder")
    proc = predict(scan, "--out", target, model=tiny_bundle)
    assert proc.returncode == 2 and "is a file, not a folder" in proc.stderr, proc.stderr[-3000:]
    assert_no_traceback(proc)
    read_only = tmp_path / "ro"
    read_only.mkdir()
    read_only.chmod(0o555)
    try:
        for out in (read_only, read_only / "new"):
            proc = predict(scan, "--out", out, model=tiny_bundle, preexec_fn=unprivileged())
            assert proc.returncode == 2 and "cannot be written" in proc.stderr, proc.stderr[-3000:]
            assert_no_traceback(proc)
    finally:
        read_only.chmod(0o755)


# ------------------------------------------------------------------------- item 10
def test_threads_minus_one_is_a_usage_error(tmp_path: Path, tiny_bundle: Path):
    scan = write_broken(tmp_path / "s.nii.gz")
    command = [sys.executable, "-m", "volta_core.cli", "predict", str(scan), "--out", str(tmp_path / "o"),
               "--model", str(tiny_bundle), "--threads", "-1"]
    proc = subprocess.run(command, capture_output=True, text=True, env=ENV, timeout=120)
    assert proc.returncode == 2 and "--threads" in proc.stderr and "1 or more" in proc.stderr, proc.stderr
    assert_no_traceback(proc)


# ------------------------------------------------------------------------- item 11
def test_results_csv_cut_inside_a_utf8_character(tmp_path: Path, tiny_bundle: Path):
    scan = write_broken(tmp_path / "données" / "é.nii.gz")
    out = tmp_path / "out"
    assert predict(scan, "--out", out, model=tiny_bundle).returncode == 1
    raw = (out / "results.csv").read_bytes()
    cut = raw.index("é".encode()) + 1  # inside the two bytes of "é"
    for keep_records in (True, False):  # with records, and as written by a version without them
        (out / "results.csv").write_bytes(raw[:cut])
        if not keep_records:
            shutil.rmtree(out / "records")
        proc = predict(scan, "--out", out, model=tiny_bundle)
        assert_no_traceback(proc)
        assert proc.returncode == 1 and "1 failed" in proc.stderr
        got = rows(out)
        assert len(got) == 1 and next(iter(got.values()))["source"] == str(scan)


# ------------------------------------------------------------------------- item 18
def test_fifo_named_like_a_scan_does_not_hang(tmp_path: Path, tiny_bundle: Path):
    fifo = tmp_path / "pipe.nii.gz"
    os.mkfifo(fifo)
    folder = tmp_path / "folder"
    folder.mkdir()
    os.mkfifo(folder / "inner.nii.gz")
    write_broken(folder / "real.nii.gz")
    out = tmp_path / "out"
    proc = predict(fifo, folder, "--out", out, model=tiny_bundle, timeout=240)  # TimeoutExpired = hang
    assert_no_traceback(proc)
    got = rows(out)
    assert "named pipe" in got["pipe"]["error"]
    assert set(got) == {"pipe", "real"}  # inside folders only regular files are scans


# ------------------------------------------------------------------------- item 20
def test_4d_and_nan_hints_name_real_options(tmp_path: Path, tiny_bundle: Path):
    data, affine = small_brain()
    write_scan(tmp_path / "in" / "series.nii.gz", np.stack([data, data], axis=-1), affine)
    nan = data.copy()
    nan[0, 0, 0] = np.nan
    write_scan(tmp_path / "in" / "holes.nii.gz", nan, affine)
    out = tmp_path / "out"
    proc = predict(tmp_path / "in", "--out", out, model=tiny_bundle)
    assert proc.returncode == 1
    got = rows(out)
    assert "--volume" in got["series"]["error"] and "--nan-to-zero" in got["holes"]["error"]
    helped = subprocess.run([sys.executable, "-m", "volta_core.cli", "predict", "--help"], capture_output=True,
                            text=True, env=ENV, timeout=60).stdout
    assert "--volume" in helped and "--nan-to-zero" in helped
    proc = predict(tmp_path / "in", "--out", out, "--volume", "1", "--nan-to-zero", model=tiny_bundle)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = rows(out)
    assert got["series"]["status"] == got["holes"]["status"] == "ok"
    assert "replaced by 0" in got["holes"]["qc_warnings"]


# ------------------------------------------------------------------------- item 23 (messages)
def test_card_with_a_nonsense_input_size_blames_the_card(tmp_path: Path, tiny_bundle: Path):
    card = json.loads((tiny_bundle / "model_card.json").read_text())
    bad = copy_bundle(tiny_bundle, tmp_path / "bad", input={**card["input"], "size": [1, 1, 1]})
    proc = predict(write_scan(tmp_path / "t1.nii.gz"), "--out", tmp_path / "out", model=bad)
    assert proc.returncode == 2 and "input.size" in proc.stderr and "model_card.json" in proc.stderr, proc.stderr
    assert "failed: t1" not in proc.stderr
    assert_no_traceback(proc)


def test_a_device_is_not_an_empty_file_and_csv_cells_are_one_line(tmp_path: Path, tiny_bundle: Path):
    out = tmp_path / "out"
    proc = predict("/dev/urandom", "/dev/null", "--out", out, model=tiny_bundle, timeout=240)
    assert_no_traceback(proc)
    got = rows(out)
    assert "is a device" in got["urandom"]["error"] and "empty" not in got["urandom"]["error"].lower()
    text = (out / "results.csv").read_text()
    assert len(text.splitlines()) == 3  # header + 2 rows: no cell holds a line break
    assert leaked_lines(proc.stderr) == []


# ------------------------------------------------------------------------- item 24
def test_disk_full_leaves_no_temporary_files(tmp_path: Path, tiny_bundle: Path):
    """A patched ``os.fsync`` raises ENOSPC (a real full disk needs a mount the test may not have)."""
    scan = write_scan(tmp_path / "t1.nii.gz")
    out = tmp_path / "out"
    full = ("import errno, os, runpy, sys\n"
            "def fsync(fd): raise OSError(errno.ENOSPC, 'No space left on device')\n"
            "os.fsync = fsync\n"
            "sys.argv = ['volta'] + sys.argv[1:]\n"
            "runpy.run_module('volta_core.cli', run_name='__main__')\n")
    proc = predict(scan, "--out", out, model=tiny_bundle, python_prefix=("-c", full))
    assert proc.returncode == 1 and "disk is full" in proc.stderr, proc.stderr[-3000:]
    assert_no_traceback(proc)
    assert [p.name for p in _all_files(out) if ".tmp" in p.name] == []


def test_temporary_files_of_killed_runs_are_removed(tmp_path: Path, tiny_bundle: Path):
    out = tmp_path / "out"
    scan = write_broken(tmp_path / "s.nii.gz")
    assert predict(scan, "--out", out, model=tiny_bundle).returncode == 1
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()  # a pid that has exited
    leftovers = [out / f".results.csv.{dead}-0123abcd.tmp", out / "records" / f".s.json.{dead}-89abcdef.tmp",
                 out / f".s_hippocampus_mask.nii.gz.{dead}-00ff00ff.tmp.nii.gz"]
    an_hour_ago = time.time() - 3600
    for path in leftovers:
        path.write_bytes(b"half a file")
        os.utime(path, (an_hour_ago, an_hour_ago))
    assert predict(scan, "--out", out, model=tiny_bundle).returncode == 1
    assert [p for p in leftovers if p.exists()] == []


# ------------------------------------------------------------------------- the CSV itself
def test_rows_are_sorted_and_complete_csv(tmp_path: Path, tiny_bundle: Path):
    """The CSV is well-formed for any reader: a header and one row per record, cells on one line."""
    out = tmp_path / "out"
    for name in ("b", "a"):
        write_broken(tmp_path / "in" / f"{name}.nii.gz")
    predict(tmp_path / "in", "--out", out, model=tiny_bundle)
    with open(out / "results.csv", newline="") as handle:
        table = list(csv.reader(handle))
    assert [r[0] for r in table[1:]] == ["a", "b"] and all(len(r) == len(table[0]) for r in table)



def test_out_of_memory_is_one_clear_line_not_itk_internals(tmp_path: Path):
    """Item 14 (predict half): under a 1.4 GB address-space limit the shipped model loads but the
    scan's images cannot be allocated; SimpleITK reports that as a RuntimeError naming its build
    tree. The row and stderr must say 'not enough memory' and what to do instead."""
    import resource

    from volta_core.io import sample_scan_path

    limit = 1_400_000_000

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    bundle = Path(__file__).resolve().parents[3] / "resources" / "models" / "volta3d-hippocampus"
    proc = predict(sample_scan_path(), "--out", tmp_path / "o", model=bundle, preexec_fn=cap)
    assert_no_traceback(proc)
    assert proc.returncode == 1, proc.stderr[-2000:]  # the scan failed (the limit is below its needs)
    assert "not enough memory to process 'fsaverage_T1.mgz'" in proc.stderr
    assert "SimpleITK-build" not in proc.stderr and "itk" not in proc.stderr.lower()
    row = rows(tmp_path / "o")["fsaverage_T1"]
    assert row["status"] == "failed" and row["error"].startswith("not enough memory")
