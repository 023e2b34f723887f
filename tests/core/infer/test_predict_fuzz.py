"""A generated corpus of broken NIfTI, MGH/MGZ, NRRD and MetaImage headers through ``volta predict``
in one process (issue 15: fuzz test, item 19): no traceback, no hang, memory under 2 GB, and a
row for every file.

The child's peak memory is measured by a small parent process that runs it and reports
``getrusage(RUSAGE_CHILDREN).ru_maxrss`` (its only child), so earlier tests do not count.
"""

from __future__ import annotations

import csv
import gzip
import json
import os
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import nibabel as nib
import numpy as np

from tests.core.infer.predict_helpers import ENV

MEMORY_LIMIT_BYTES = 2 * 1024**3
SHAPE = (8, 8, 8)

MEASURE = (
    "import json, resource, subprocess, sys\n"
    "proc = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
    "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024\n"  # KiB on Linux
    "print(json.dumps({'rc': proc.returncode, 'stderr': proc.stderr, 'peak_bytes': peak}))\n"
)


def predict_measured(inputs: list[Path], out: Path, bundle: Path, timeout: float) -> dict:
    """Run ``volta predict`` under a measuring parent; returns rc, stderr and the peak RSS in bytes."""
    command = [sys.executable, "-m", "volta_core.cli", "predict", *map(str, inputs), "--out", str(out),
               "--model", str(bundle), "--device", "cpu", "--threads", "1", "--quiet"]
    done = subprocess.run([sys.executable, "-c", MEASURE, *command], capture_output=True, text=True, env=ENV,
                          timeout=timeout)  # TimeoutExpired is the hang
    return json.loads(done.stdout)


# ---------------------------------------------------------------------------- NIfTI-1
def _nifti_block(**changes: object) -> bytes:
    data = np.random.default_rng(0).random(SHAPE).astype(np.float32)
    image = nib.Nifti1Image(data, np.diag([2.0, 2.0, 2.0, 1.0]))
    header = image.header
    raw = bytearray(header.binaryblock) + b"\x00" * 4  # + empty extension flag
    for field, value in changes.items():
        offset, fmt = _NIFTI_FIELDS[field]
        struct.pack_into(fmt, raw, offset, *(value if isinstance(value, tuple) else (value,)))
    return bytes(raw) + data.tobytes()


# offsets in the 348-byte NIfTI-1 header (little endian)
_NIFTI_FIELDS: dict[str, tuple[int, str]] = {
    "sizeof_hdr": (0, "<i"), "dim": (40, "<8h"), "datatype": (70, "<h"), "bitpix": (72, "<h"),
    "pixdim": (76, "<8f"), "vox_offset": (108, "<f"), "scl_slope": (112, "<f"), "scl_inter": (116, "<f"),
    "qform_code": (252, "<h"), "sform_code": (254, "<h"), "quatern_b": (256, "<f"), "qoffset_x": (268, "<f"),
    "srow_x": (280, "<4f"), "magic": (344, "<4s"),
}

NAN, INF = float("nan"), float("inf")
NIFTI_CASES: dict[str, dict[str, object]] = {
    "huge_f64": {"dim": (3, 999, 1000, 1000, 1, 1, 1, 1), "datatype": 64, "bitpix": 64},
    "huge_i16": {"dim": (3, 32767, 32767, 32767, 1, 1, 1, 1), "datatype": 4, "bitpix": 16},
    "huge_4d": {"dim": (4, 500, 500, 500, 1000, 1, 1, 1)},
    "negative_dim": {"dim": (3, -8, 8, 8, 1, 1, 1, 1)},
    "zero_dim": {"dim": (3, 8, 0, 8, 1, 1, 1, 1)},
    "dim0_zero": {"dim": (0, 8, 8, 8, 1, 1, 1, 1)},
    "dim0_nine": {"dim": (9, 8, 8, 8, 8, 8, 8, 8)},
    "seven_d": {"dim": (7, 8, 8, 8, 2, 2, 2, 2)},
    "bad_datatype": {"datatype": 9999},
    "zero_datatype": {"datatype": 0},
    "rgb": {"datatype": 128, "bitpix": 24},
    "complex": {"datatype": 32, "bitpix": 64},
    "binary": {"datatype": 1, "bitpix": 1},
    "bitpix_mismatch": {"bitpix": 7},
    "nan_pixdim": {"pixdim": (1.0, NAN, 2.0, 2.0, 1.0, 1.0, 1.0, 1.0)},
    "inf_pixdim": {"pixdim": (1.0, INF, 2.0, 2.0, 1.0, 1.0, 1.0, 1.0)},
    "zero_pixdim": {"pixdim": (1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0)},
    "nan_srow": {"sform_code": 1, "srow_x": (NAN, 0.0, 0.0, 0.0)},
    "singular_srow": {"sform_code": 1, "srow_x": (0.0, 0.0, 0.0, 0.0)},
    "nan_quatern": {"qform_code": 1, "sform_code": 0, "quatern_b": NAN},
    "huge_quatern": {"qform_code": 1, "sform_code": 0, "quatern_b": 1e30},
    "inf_offset": {"qform_code": 1, "sform_code": 0, "qoffset_x": INF},
    "bad_codes": {"qform_code": 99, "sform_code": -5},
    "huge_vox_offset": {"vox_offset": 1e12},
    "negative_vox_offset": {"vox_offset": -1000.0},
    "nan_vox_offset": {"vox_offset": NAN},
    "nan_slope": {"scl_slope": NAN},
    "inf_slope": {"scl_slope": INF},
    "huge_slope": {"scl_slope": 3e38},
    "inf_inter": {"scl_slope": 1.0, "scl_inter": INF},
    "bad_magic": {"magic": b"xx\x00\x00"},
    "bad_sizeof_hdr": {"sizeof_hdr": 999},
    "zero_sizeof_hdr": {"sizeof_hdr": 0},
}


# ---------------------------------------------------------------------------- MGH
def _mgh_block(width: int = 8, height: int = 8, depth: int = 8, frames: int = 1, kind: int = 3,
               spacing: tuple[float, float, float] = (1.0, 1.0, 1.0), mdc: tuple[float, ...] | None = None,
               version: int = 1, data_bytes: int | None = None) -> bytes:
    mdc = mdc or (-1.0, 0.0, 0.0, 0.0, 0.0, -1.0, 0.0, 1.0, 0.0)
    head = struct.pack(">7i", version, width, height, depth, frames, kind, 0) + struct.pack(">h", 1)
    head += struct.pack(">3f", *spacing) + struct.pack(">9f", *mdc) + struct.pack(">3f", 0.0, 0.0, 0.0)
    head = head.ljust(284, b"\x00")
    n = data_bytes if data_bytes is not None else 8 * 8 * 8 * 4
    return head + np.random.default_rng(1).random(n // 4 + 1).astype(">f4").tobytes()[:n]


MGH_CASES: dict[str, dict[str, object]] = {
    "huge": {"width": 999, "height": 1000, "depth": 1000},
    "huge_frames": {"frames": 100000},
    "negative": {"width": -8},
    "zero": {"depth": 0},
    "bad_type": {"kind": 99},
    "bad_version": {"version": 7},
    "nan_spacing": {"spacing": (NAN, 1.0, 1.0)},
    "zero_spacing": {"spacing": (0.0, 0.0, 0.0)},
    "nan_mdc": {"mdc": (NAN,) * 9},
    "zero_mdc": {"mdc": (0.0,) * 9},
    "truncated_data": {"data_bytes": 100},
    "no_data": {"data_bytes": 0},
}


# ---------------------------------------------------------------------------- NRRD and MetaImage
def _nrrd(fields: dict[str, str], payload: bytes = b"\x00" * (8 * 8 * 8 * 4)) -> bytes:
    base = {"type": "float", "dimension": "3", "space": "left-posterior-superior", "sizes": "8 8 8",
            "space directions": "(1,0,0) (0,1,0) (0,0,1)", "endian": "little", "encoding": "raw"}
    base.update(fields)
    text = "NRRD0004\n" + "".join(f"{k}: {v}\n" for k, v in base.items() if v is not None) + "\n"
    return text.encode("latin-1") + payload


NRRD_CASES: dict[str, tuple[dict[str, str], bytes | None]] = {
    "huge_raw": ({"type": "double", "sizes": "999 1000 1000"}, None),
    "huge_gzip": ({"type": "double", "sizes": "999 1000 1000", "encoding": "gzip"}, gzip.compress(b"\x00" * 64)),
    "negative": ({"sizes": "-8 8 8"}, None),
    "letters": ({"sizes": "a b c"}, None),
    "dimension_zero": ({"dimension": "0"}, None),
    "dimension_17": ({"dimension": "17", "sizes": " ".join(["2"] * 17), "space": None, "space directions": None},
                     None),
    "valid": ({}, None),
    "bad_type": ({"type": "bogus"}, None),
    "no_endian": ({"type": "double", "endian": None}, None),
    "nan_directions": ({"space directions": "(nan,0,0) (0,1,0) (0,0,1)"}, None),
    "zero_directions": ({"space directions": "(0,0,0) (0,0,0) (0,0,0)"}, None),
    "truncated": ({}, b"\x00" * 100),
    "bad_gzip": ({"encoding": "gzip"}, b"\x1f\x8b\x08garbage"),
    "data_file_dev_zero": ({"sizes": "999 1000 1000", "data file": "/dev/zero"}, b""),
    "data_file_missing": ({"data file": "nowhere.raw"}, b""),
    "data_file_fifo": ({"data file": "fifo.raw"}, b""),
    "huge_line_skip": ({"line skip": "1000000000"}, None),
    "negative_byte_skip": ({"byte skip": "-5"}, None),
}

MHA_CASES: dict[str, str] = {
    "huge": "DimSize = 999 1000 1000\nElementType = MET_DOUBLE\nElementDataFile = LOCAL\n",
    "negative": "DimSize = -8 8 8\nElementType = MET_FLOAT\nElementDataFile = LOCAL\n",
    "bad_type": "DimSize = 8 8 8\nElementType = MET_BOGUS\nElementDataFile = LOCAL\n",
    "dev_zero": "DimSize = 999 1000 1000\nElementType = MET_DOUBLE\nElementDataFile = /dev/zero\n",
    "compressed_junk": "DimSize = 8 8 8\nElementType = MET_FLOAT\nCompressedData = True\nElementDataFile = LOCAL\n",
    "nan_spacing": "DimSize = 8 8 8\nElementSpacing = nan 1 1\nElementType = MET_FLOAT\nElementDataFile = LOCAL\n",
}


def write_corpus(folder: Path) -> list[Path]:
    """Every broken file, as the readers would meet it (gzipped variants included)."""
    folder.mkdir(parents=True)
    files: list[Path] = []

    def put(name: str, data: bytes, compress: Callable[[bytes], bytes] | None = None) -> None:
        path = folder / name
        path.write_bytes(compress(data) if compress else data)
        files.append(path)

    valid = _nifti_block()
    for name, changes in NIFTI_CASES.items():
        block = _nifti_block(**changes)
        put(f"nii_{name}.nii", block)
        put(f"niigz_{name}.nii.gz", block, gzip.compress)
    for cut in (1, 100, 347, 352, 352 + 1000):
        put(f"nii_cut{cut}.nii", valid[:cut])
        put(f"niigz_cut{cut}.nii.gz", gzip.compress(valid)[: max(1, cut // 8)])
    rng = np.random.default_rng(15)
    for i in range(12):  # random bytes of the header flipped
        raw = bytearray(valid)
        for pos in rng.integers(0, 348, size=6):
            raw[pos] = int(rng.integers(0, 256))
        put(f"nii_flip{i}.nii", bytes(raw))
    for name, kwargs in MGH_CASES.items():
        block = _mgh_block(**kwargs)  # type: ignore[arg-type]
        put(f"mgh_{name}.mgh", block)
        put(f"mgz_{name}.mgz", block, gzip.compress)
    os.mkfifo(folder / "fifo.raw")  # the target of data_file_fifo (never listed: not a regular file)
    for name, (fields, payload) in NRRD_CASES.items():
        put(f"nrrd_{name}.{'nhdr' if 'data file' in fields else 'nrrd'}",
            _nrrd(fields, payload if payload is not None else b"\x00" * (8 * 8 * 8 * 4)))
    for name, body in MHA_CASES.items():
        put(f"mha_{name}.mha", ("ObjectType = Image\nNDims = 3\n" + body).encode() + b"\x00" * 64)
    put("random.nii.gz", rng.bytes(4000))
    put("empty.mgz", b"")
    return files


def test_broken_headers_fail_cleanly_in_bounded_time_and_memory(tmp_path: Path, tiny_bundle: Path):
    corpus = write_corpus(tmp_path / "corpus")
    out = tmp_path / "out"
    result = predict_measured([tmp_path / "corpus"], out, tiny_bundle, timeout=900)
    assert "Traceback" not in result["stderr"], result["stderr"][-5000:]
    assert result["rc"] in (0, 1), result["stderr"][-3000:]
    assert result["peak_bytes"] < MEMORY_LIMIT_BYTES, result["peak_bytes"]
    with open(out / "results.csv", newline="") as handle:
        table = list(csv.DictReader(handle))
    assert sorted(Path(r["source"]).name for r in table) == sorted(p.name for p in corpus)
    for row in table:
        assert row["status"] in ("ok", "failed"), row
        assert row["status"] == "ok" or row["error"], row
        assert "\n" not in row["error"] and "unexpected error" not in row["error"], row


def test_huge_declared_array_is_refused_before_allocating(tmp_path: Path, tiny_bundle: Path):
    """Item 19: a 59-byte gzip declaring 999 x 1000 x 1000 float64 took 8.2 GB before its error."""
    header = nib.Nifti1Header()
    header.set_data_shape((999, 1000, 1000))
    header.set_data_dtype(np.float64)
    scan = tmp_path / "bomb.nii.gz"
    scan.write_bytes(gzip.compress(header.binaryblock + b"\x00" * 4))
    assert scan.stat().st_size < 100
    result = predict_measured([scan], tmp_path / "out", tiny_bundle, timeout=300)
    assert result["rc"] == 1 and "Traceback" not in result["stderr"], result["stderr"][-3000:]
    assert "declares 7.4 GB of voxel data" in result["stderr"]
    assert result["peak_bytes"] < 1024**3, result["peak_bytes"]  # torch and the model: a few hundred MB
