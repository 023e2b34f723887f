from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
import torch
from scipy import ndimage

from volta_core.data.synth import GridConfig, SampleOverrides, SourceLibrary, SourceSpec, SynthConfig, SynthGenerator
from volta_core.data.synth import fs_labels as fsl
from volta_core.data.synth.morphology import apply_atrophy, resize_structure


def _world_centroid_x(mask: torch.Tensor, affine: torch.Tensor) -> float:
    ijk = torch.nonzero(mask).double().mean(0)
    return float(affine[0, :3] @ ijk + affine[0, 3])


@pytest.mark.parametrize("mode", ["synth", "template"])
@pytest.mark.parametrize("grid", [GridConfig.whole(40, 5.0), GridConfig.roi((32, 24, 24), 3.0)])
def test_sample_shape_dtype_range(synth_lib_all, mode: str, grid: GridConfig) -> None:
    gen = SynthGenerator(synth_lib_all, SynthConfig(mode=mode, grid=grid, return_full_label=True))
    for seed, source in ((0, "dk_mni152"), (1, "fsaverage")):
        s = gen.sample(seed, SampleOverrides(source=source))
        img, lab = s["image"], s["label"]
        assert img.shape == (1, *grid.shape) and img.dtype == torch.float32
        assert lab.shape == grid.shape and lab.dtype == torch.int64
        assert s["full_label"].shape == grid.shape and s["full_label"].dtype == torch.int64
        assert torch.isfinite(img).all() and float(img.min()) >= 0.0 and float(img.max()) <= 1.0
        assert float(img.max()) == pytest.approx(1.0) and float(img.std()) > 0.01
        assert set(torch.unique(lab).tolist()) == {0, 1, 2}
        assert torch.equal(lab == 1, s["full_label"] == fsl.LEFT_HIPPOCAMPUS)
        assert torch.equal(lab == 2, s["full_label"] == fsl.RIGHT_HIPPOCAMPUS)
        assert s["meta"]["source"] == source and s["meta"]["mode"] == mode
        assert s["meta"]["affine"].shape == (4, 4)
        if grid.kind == "whole":  # head layers: skull and scalp exist, synthetic or from orig.mgz
            assert (s["full_label"] == fsl.SKULL).sum() > 50 and (s["full_label"] == fsl.SOFT_TISSUE).sum() > 50


def test_seeds_reproducible_and_distinct(synth_lib_all, small_config) -> None:
    gen = SynthGenerator(synth_lib_all, small_config(mode="mixed"))
    a, b, c = gen.sample(7), gen.sample(7), gen.sample(8)
    assert torch.equal(a["image"], b["image"]) and torch.equal(a["label"], b["label"])
    assert a["meta"] == {**b["meta"], "affine": a["meta"]["affine"]}
    assert not torch.equal(a["image"], c["image"])
    images = [gen.sample(s)["image"] for s in range(10, 14)]
    assert all(not torch.equal(images[i], images[j]) for i in range(4) for j in range(i + 1, 4))


def test_t1_prob_mixes_t1_like_samples_into_random_contrast(synth_lib_dk, small_config) -> None:
    from volta_core.data.synth.config import IntensityConfig

    plain = SynthGenerator(synth_lib_dk, small_config(mode="synth"))
    mixed = SynthGenerator(synth_lib_dk, small_config(mode="synth", intensity=IntensityConfig(t1_prob=0.5)))
    contrasts = [mixed.sample(s)["meta"]["contrast"] for s in range(24)]
    assert {"t1", "random"} == set(contrasts) and 4 <= contrasts.count("t1") <= 20
    # 0 (the default) draws nothing more: older runs' sample streams are unchanged
    assert all(plain.sample(s)["meta"]["contrast"] == "random" for s in range(4))
    assert torch.equal(plain.sample(3)["image"], SynthGenerator(synth_lib_dk, small_config(mode="synth")).sample(3)["image"])
    t1 = next(s for s in range(24) if contrasts[s] == "t1")
    forced = mixed.sample(t1, SampleOverrides(contrast="random"))  # an explicit contrast wins
    assert forced["meta"]["contrast"] == "random"


@pytest.mark.parametrize("source", ["dk_mni152", "fsaverage"])
def test_flip_swaps_labels_and_is_midline_correct(synth_lib_all, small_config, source: str) -> None:
    cfg = small_config(return_full_label=True, grid=GridConfig.whole(48, 4.0))
    gen = SynthGenerator(synth_lib_all, cfg)
    midline = synth_lib_all.get(source).midline_x
    plain = gen.sample(5, SampleOverrides(source=source, flip=False, identity_warp=True))
    flipped = gen.sample(5, SampleOverrides(source=source, flip=True, identity_warp=True))
    assert flipped["meta"]["flipped"] and not plain["meta"]["flipped"]
    aff = plain["meta"]["affine"]
    for s in (plain, flipped):
        assert _world_centroid_x(s["label"] == 1, aff) < -10  # left hippocampus on the anatomical left
        assert _world_centroid_x(s["label"] == 2, aff) > 10
        full = s["full_label"]
        assert _world_centroid_x(full == 2, aff) < midline < _world_centroid_x(full == 41, aff)  # L/R WM
    # the flipped left hippocampus is the mirror image (about the midline) of the right one
    x_right = _world_centroid_x(plain["label"] == 2, aff)
    x_left_flipped = _world_centroid_x(flipped["label"] == 1, aff)
    assert abs(x_left_flipped - (2 * midline - x_right)) < 2.0
    n_right, n_left_flipped = int((plain["label"] == 2).sum()), int((flipped["label"] == 1).sum())
    assert abs(n_left_flipped - n_right) <= 0.1 * n_right


@pytest.mark.parametrize("fraction", [-0.3, -0.1, 0.1])
def test_resize_structure_changes_volume_by_fraction(synth_lib_dk, fraction: float) -> None:
    src = synth_lib_dk.sources()[0]
    labels = torch.from_numpy(src.labels.astype(np.int64))
    hip, fill = fsl.compact_index(17), fsl.compact_index(5)
    gen = torch.Generator().manual_seed(0)
    out = resize_structure(labels, 17, fraction, 5, (2, 3, 5, 18, 24, 28), gen)
    before, after = int((labels == hip).sum()), int((out == hip).sum())
    assert after - before == round(fraction * before)
    if fraction < 0:  # freed voxels go to the inferior lateral ventricle only
        assert int((out == fill).sum()) - int((labels == fill).sum()) == before - after
        assert torch.equal(out[out != labels], torch.full_like(out[out != labels], fill))
    else:  # grows only into allowed left-hemisphere labels
        taken = labels[(out == hip) & (labels != hip)]
        allowed = torch.tensor([fsl.compact_index(i) for i in (2, 3, 5, 18, 24, 28)])
        assert torch.isin(taken, allowed).all()
    assert torch.equal(out == fsl.compact_index(53), labels == fsl.compact_index(53))  # right untouched


def test_generator_atrophy_and_ventricle_enlargement(synth_lib_dk, small_config) -> None:
    gen = SynthGenerator(synth_lib_dk, small_config(return_full_label=True, grid=GridConfig.whole(48, 3.0)))
    ov = dict(source="dk_mni152", flip=False)
    base = gen.sample(3, SampleOverrides(hippocampus_change=0.0, ventricle_change=0.0, **ov))
    ad = gen.sample(3, SampleOverrides(hippocampus_change=-0.25, ventricle_change=0.5, **ov))
    for label in (1, 2):
        v0, v1 = int((base["label"] == label).sum()), int((ad["label"] == label).sum())
        assert v1 == v0 - round(0.25 * v0)
    for vent in (fsl.LEFT_LATERAL_VENTRICLE, fsl.RIGHT_LATERAL_VENTRICLE):
        v0, v1 = int((base["full_label"] == vent).sum()), int((ad["full_label"] == vent).sum())
        assert abs(v1 - 1.5 * v0) <= 0.02 * v0 + 1
    assert ad["meta"]["hippocampus_change"] == -0.25
    labels = torch.from_numpy(np.zeros((4, 4, 4), dtype=np.int64))
    assert torch.equal(apply_atrophy(labels, -0.2, 0.3, torch.Generator()), labels)  # nothing to do


def test_template_mode_uses_real_t1_texture(synth_lib_fs, small_config) -> None:
    cfg = small_config(mode="template", grid=GridConfig.whole(48, 4.0), return_full_label=True)
    cfg.intensity.invert_prob = 0.0
    gen = SynthGenerator(synth_lib_fs, cfg)
    s = gen.sample(11, SampleOverrides(identity_warp=True, flip=False))
    img, full = s["image"][0], s["full_label"]
    # real T1 contrast: white matter brighter than cortex, cortex brighter than ventricle CSF
    wm, gm, csf = (float(img[full == i].mean()) for i in (2, 3, 4))
    assert wm > gm + 0.05 and gm > csf + 0.05
    cfg.intensity.invert_prob = 1.0  # T2-like inversion flips that order
    t = SynthGenerator(synth_lib_fs, cfg).sample(11, SampleOverrides(identity_warp=True, flip=False))
    assert float(t["image"][0][full == 4].mean()) > float(t["image"][0][full == 2].mean())
    assert float(t["image"][0][full == 0].max()) == 0.0  # background stays dark


def test_config_round_trip() -> None:
    import json

    cfg = SynthConfig(mode="mixed", grid=GridConfig.roi())
    assert SynthConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    with pytest.raises(TypeError):
        SynthConfig.from_dict({"no_such_option": 1})


def test_bad_mode_is_rejected(synth_lib_dk, small_config) -> None:
    with pytest.raises(ValueError, match="mode"):
        SynthGenerator(synth_lib_dk, small_config()).sample(0, SampleOverrides(mode="t2"))


def test_generator_keeps_image_and_labels_aligned(tmp_path, synth_lib_dk) -> None:
    """Template mode on a source whose 'T1' is a fixed intensity table of its labels: after the
    random warp + flip + label swap, interior voxels show the table value of their label."""
    src = synth_lib_dk.sources()[0]
    ids = fsl.fs_ids()[src.labels]
    present = np.unique(ids)
    table = dict(zip(present.tolist(), np.random.default_rng(0).uniform(0.2, 0.9, present.size).tolist()))
    table[0], table[2], table[41] = 0.0, 1.0, 1.0  # WM brightest, so nothing is clipped at load
    nib.save(nib.Nifti1Image(ids.astype(np.int16), src.affine), str(tmp_path / "labels.nii.gz"))
    nib.save(nib.Nifti1Image(np.vectorize(table.get)(ids).astype(np.float32), src.affine),
             str(tmp_path / "image.nii.gz"))
    spec = SourceSpec("table_t1", "dk", tmp_path / "labels.nii.gz", tmp_path / "image.nii.gz", "shells")
    cfg = SynthConfig(mode="template", flip_prob=1.0, return_full_label=True, grid=GridConfig.whole(48, 4.0))
    c = cfg.intensity
    c.template_bias_std_max = c.template_noise_std_max = c.template_gamma_std = 0.0
    c.template_thick_slice_prob = c.invert_prob = 0.0
    s = SynthGenerator(SourceLibrary("dk", 3.0, specs=[spec]), cfg).sample(21)
    assert s["meta"]["flipped"]
    img, full = s["image"][0].numpy(), s["full_label"].numpy()
    brain = (full > 0) & ~np.isin(full, fsl.HEAD_LABELS)
    interior = brain & (ndimage.maximum_filter(full, 3) == ndimage.minimum_filter(full, 3))
    swap = {**dict(fsl.LR_PAIRS), **{r: l for l, r in fsl.LR_PAIRS}}
    # the image was mirrored too: a voxel now labelled left shows the source's right structure
    expected = np.vectorize(lambda i: table[swap.get(i, i)])(full[interior])
    a, b = np.polyfit(expected, img[interior], 1)  # the final min-max rescales linearly
    residual = np.abs(img[interior] - (a * expected + b))
    assert a > 0 and np.mean(residual < 0.02) > 0.98
    lateral = [left for left, right in fsl.LR_PAIRS if table.get(left) != table.get(right)]
    assert np.isin(full[interior], lateral).sum() > 50  # the check covered swapped structures
