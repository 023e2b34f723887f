"""Domain-randomised synthesis (SynthSeg idea, Billot et al.) and template augmentation, in torch.

One call of :meth:`SynthGenerator.sample` = one warp of a source label map (and its real T1
in template mode) on the output grid, optional morphology, head shells, then an image:

* ``synth``: Gaussian mixture per label (random or T1-like contrast), partial-volume blur,
  bias field, thick slices along a random axis, noise, min-max, gamma;
* ``template``: the warped real T1 (synthetic head intensities where a skull-stripped
  template has none) with milder bias / thick slices / noise / gamma and optional T2-like
  inversion. Morphology is not applied in template mode (the real image cannot follow it).

Everything is deterministic given ``seed`` and the device.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from volta_core.data.synth import fs_labels as fsl
from volta_core.data.synth import intensity as inten
from volta_core.data.synth.config import SynthConfig
from volta_core.data.synth.deform import (AffineParams, coarse_sampling_grid, output_affine,
                                          random_displacement, upsample_grid, warp)
from volta_core.data.synth.head_layers import shell_labels
from volta_core.data.synth.interp import upsample
from volta_core.data.synth.morphology import apply_atrophy
from volta_core.data.synth.sources import Source, SourceLibrary


@dataclass
class SampleOverrides:
    """Fix some of the random choices of one sample (``None`` = draw at random).

    Attributes:
        source: source name.
        mode: ``"synth"`` or ``"template"``.
        flip: mirror L/R (with label swap) or not.
        hippocampus_change: relative hippocampal volume change (synth mode).
        ventricle_change: relative lateral-ventricle volume change (synth mode).
        size_factor: extra isotropic apparent-size factor (e.g. a head-size proxy).
        contrast: ``"random"`` or ``"t1"``.
        identity_warp: no affine, no elastic field (tests, demo geometry).
    """

    source: str | None = None
    mode: str | None = None
    flip: bool | None = None
    hippocampus_change: float | None = None
    ventricle_change: float | None = None
    size_factor: float | None = None
    contrast: str | None = None
    identity_warp: bool = False


class SynthGenerator:
    """Draw image/label samples from a :class:`SourceLibrary`.

    Args:
        library: the sources (already restricted to the wanted subset).
        config: ranges and output grid.
        device: where to compute (CPU, CUDA, MPS); samples are returned on this device.
    """

    def __init__(self, library: SourceLibrary, config: SynthConfig | None = None,
                 device: torch.device | str = "cpu") -> None:
        self.library = library
        self.config = config or SynthConfig()
        self.device = torch.device(device)
        self.flip_lut = torch.as_tensor(fsl.flip_table(), device=self.device)
        self.fs_ids = torch.as_tensor(fsl.fs_ids(), device=self.device)
        lut = torch.as_tensor(fsl.compact_lut().astype(np.int64), device=self.device)
        self.compact_of = lut.clamp_min(0)
        # compact -> class: 0 background, then left/right of each structure (hippocampus first)
        self.target_lut = torch.as_tensor(fsl.target_table(self.config.structures), device=self.device)

    # ------------------------------------------------------------------ geometry
    def _affine_params(self, rng: np.random.Generator, ov: SampleOverrides) -> AffineParams:
        d = self.config.deform
        size = ov.size_factor if ov.size_factor is not None else 1.0
        if ov.identity_warp:
            return AffineParams(scale=(size, size, size))
        shift = d.roi_translation_mm if self.config.grid.kind == "roi" else d.translation_mm
        return AffineParams(
            rotation_deg=tuple(rng.uniform(-d.rotation_deg, d.rotation_deg, 3)),
            scale=tuple(size * (1.0 + rng.uniform(-d.scale, d.scale, 3))),
            shear=tuple(rng.uniform(-d.shear, d.shear, 3)),
            translation_mm=tuple(rng.uniform(-shift, shift, 3)),
        )

    def _warp_source(self, src: Source, rng: np.random.Generator, gen: torch.Generator,
                     ov: SampleOverrides, flip: bool, with_image: bool) -> dict[str, Any]:
        g = self.config.grid
        tensors = src.tensors(self.device)
        centre = src.hippocampus_centre if g.kind == "roi" else src.brain_centre
        centre = np.asarray(centre, dtype=np.float64).copy()
        centre_in = centre.copy()
        if flip:  # the mirror maps the output centre back onto the same anatomy
            centre_in[0] = 2.0 * src.midline_x - centre[0]
        out_aff = output_affine(g.shape, g.spacing_mm, centre)
        params = self._affine_params(rng, ov)
        disp = None
        if not ov.identity_warp and self.config.deform.elastic_std_mm > 0:
            disp = random_displacement(self.config.deform.elastic_std_mm,
                                       self.config.deform.elastic_control_points, gen, self.device)
        coarse = coarse_sampling_grid(out_aff, g.shape, src.affine, src.labels.shape, params, centre,
                                      centre_in, src.midline_x if flip else None, disp, self.device)
        grid = upsample_grid(coarse, g.shape)  # (1, D, H, W, 3)
        labels = warp(tensors["labels"], grid, "nearest")[0, 0].to(torch.int64)  # (D, H, W), exact ints
        if flip:
            labels = self.flip_lut[labels]
        out: dict[str, Any] = {"labels": labels, "affine": out_aff, "params": params, "shells": None}
        if "distance" in tensors:
            # the distance map is smooth: sample it at half resolution (4x cheaper), upsample later
            half = tuple(max(2, n // 2) for n in g.shape)
            dist = warp(tensors["distance"], upsample_grid(coarse, half), "bilinear", "border")[0, 0]
            out["shells"] = self._shells(dist, labels, rng, gen)
            out["labels"] = torch.where(out["shells"] > 0, out["shells"], labels)
        if with_image:
            out["image"] = warp(tensors["image"], grid, "bilinear")[0, 0]
        return out

    def _shells(self, dist_half: torch.Tensor, labels: torch.Tensor, rng: np.random.Generator,
                gen: torch.Generator) -> torch.Tensor:
        """Compact head-shell labels on the output grid from a half-resolution distance map."""
        h = self.config.head
        thick = torch.tensor([rng.uniform(*r) for r in (h.csf_rim_mm, h.skull_mm, h.soft_tissue_mm, h.fat_mm)],
                             device=self.device)
        coarse = torch.randn((1, 4, 4, 4), generator=gen, device=self.device)
        modulation = 1.0 + h.modulation * torch.tanh(coarse)  # irregular thickness
        scaled = dist_half / upsample(modulation, tuple(dist_half.shape))[0]
        scaled = F.interpolate(scaled[None, None], size=labels.shape, mode="trilinear", align_corners=True)[0, 0]
        shells = self.compact_of[shell_labels(scaled, thick)]  # compact ids, 0 = no shell
        return torch.where(labels == 0, shells, torch.zeros_like(shells))

    # ----------------------------------------------------------------- intensity
    def _synth_image(self, labels: torch.Tensor, rng: np.random.Generator, gen: torch.Generator,
                     contrast: str) -> torch.Tensor:
        c, spacing = self.config.intensity, self.config.grid.spacing_mm
        if contrast == "t1":
            means, stds = inten.t1_gmm_params(rng)
        else:
            groups = inten.label_groups(rng.random() < c.share_lr_prob, rng.random() < c.share_tissue_prob)
            means, stds = inten.random_gmm_params(rng, groups, c.std_max)
        img = inten.gmm_image(labels, torch.as_tensor(means, device=self.device),
                              torch.as_tensor(stds, device=self.device), gen)
        img = inten.gaussian_blur(img, tuple(rng.uniform(0.0, c.partial_volume_blur_vox, 3)))
        img = img * inten.bias_field(tuple(img.shape), rng.uniform(0, c.bias_std_max),
                                     c.bias_control_points, gen, self.device)
        if rng.random() < c.thick_slice_prob:
            img = inten.simulate_thick_slices(img, int(rng.integers(3)), rng.uniform(*c.thickness_mm), spacing)
        img = inten.add_noise(inten.minmax(img), rng.uniform(0, c.noise_std_max), gen)
        img = inten.gamma(inten.minmax(img), float(np.exp(rng.normal(0, c.gamma_std))))
        return inten.minmax(img)

    def _template_image(self, image: torch.Tensor, labels: torch.Tensor, src: Source,
                        rng: np.random.Generator, gen: torch.Generator) -> torch.Tensor:
        c, spacing = self.config.intensity, self.config.grid.spacing_mm
        if not src.image_has_head:  # skull-stripped template: paint T1-like head layers
            wm = labels == fsl.compact_index(2)
            ref = image[wm].median() if bool(wm.any()) else image.max()
            means, stds = inten.t1_gmm_params(rng)
            head = torch.zeros_like(labels, dtype=torch.bool)
            for fs_id in fsl.HEAD_LABELS:
                head |= labels == fsl.compact_index(fs_id)
            synth = inten.gmm_image(labels, torch.as_tensor(means, device=self.device) * 1.2 * ref,
                                    torch.as_tensor(stds, device=self.device) * ref, gen)
            image = torch.where(head, inten.gaussian_blur(synth, (0.7, 0.7, 0.7)), image)
        img = image * inten.bias_field(tuple(image.shape), rng.uniform(0, c.template_bias_std_max),
                                       c.bias_control_points, gen, self.device)
        if rng.random() < c.template_thick_slice_prob:
            img = inten.simulate_thick_slices(img, int(rng.integers(3)),
                                              rng.uniform(*c.template_thickness_mm), spacing)
        img = inten.add_noise(inten.minmax(img), rng.uniform(0, c.template_noise_std_max), gen)
        img = inten.gamma(inten.minmax(img), float(np.exp(rng.normal(0, c.template_gamma_std))))
        if rng.random() < c.invert_prob:
            img = inten.invert_contrast(img, labels > 0)
        return inten.minmax(img)

    def _draw_source(self, rng: np.random.Generator) -> str:
        with_image = [s.name for s in self.library.specs if s.image_path is not None]
        without = [s.name for s in self.library.specs if s.image_path is None]
        p = self.config.image_source_prob
        if p is None or not with_image or not without:
            return self.library.names[int(rng.integers(len(self.library)))]
        pool = with_image if rng.random() < p else without
        return pool[int(rng.integers(len(pool)))]

    # --------------------------------------------------------------------- public
    def sample(self, seed: int, overrides: SampleOverrides | None = None) -> dict[str, Any]:
        """Generate one sample.

        Args:
            seed: RNG seed; the same seed (and device) gives the same sample.
            overrides: fixed choices (source, mode, flip, atrophy, size, contrast).

        Returns:
            ``{"image": (1, D, H, W) float32 in [0, 1], "label": (D, H, W) int64 (0 background,
            then left/right of each of ``config.structures``: 1 left, 2 right hippocampus ...), "full_label": (D, H, W) int64 FreeSurfer
            ids (only if ``config.return_full_label``), "meta": {...}}`` on ``self.device``.
            ``meta`` holds source, mode, contrast, seed, flipped, hippocampus_change,
            ventricle_change, spacing_mm and ``affine`` ((4, 4) float64 RAS voxel -> world).
        """
        ov = overrides or SampleOverrides()
        cfg = self.config
        rng = np.random.default_rng(seed)
        gen = torch.Generator(device=self.device)
        gen.manual_seed(int(seed) % (2**63))
        name = ov.source or self._draw_source(rng)
        src = self.library.get(name)
        mode = ov.mode or (cfg.mode if cfg.mode != "mixed" else
                           ("template" if rng.random() < cfg.template_prob else "synth"))
        if mode not in ("synth", "template"):
            raise ValueError(f"mode must be 'synth', 'template' or 'mixed', got {mode!r}")
        if src.image is None:  # a label map without an image: only synthesis can draw it
            if ov.mode == "template":
                raise ValueError(f"source {name} has no image: template mode is impossible")
            mode = "synth"
        flip = bool(rng.random() < cfg.flip_prob) if ov.flip is None else bool(ov.flip)
        warped = self._warp_source(src, rng, gen, ov, flip, with_image=(mode == "template"))
        labels = warped["labels"]  # (D, H, W) compact
        m = cfg.morphology
        hippo = ov.hippocampus_change
        if hippo is None:
            hippo = rng.uniform(*m.hippocampus_change) if rng.random() < m.hippocampus_prob else 0.0
        vent = ov.ventricle_change
        if vent is None:
            vent = rng.uniform(*m.ventricle_change) if rng.random() < m.ventricle_prob else 0.0
        contrast = ov.contrast or cfg.intensity.contrast
        if ov.contrast is None and contrast == "random" and cfg.intensity.t1_prob > 0:
            contrast = "t1" if rng.random() < cfg.intensity.t1_prob else "random"
        if mode == "synth":
            labels = apply_atrophy(labels, float(hippo), float(vent), gen)
            image = self._synth_image(labels, rng, gen, contrast)
        else:
            hippo = vent = 0.0
            image = self._template_image(warped["image"], labels, src, rng, gen)
        target = self.target_lut[labels]
        out: dict[str, Any] = {
            "image": image.float()[None].contiguous(),  # (1, D, H, W)
            "label": target,  # (D, H, W)
            "meta": {"source": name, "mode": mode, "contrast": contrast if mode == "synth" else "template",
                     "seed": int(seed), "flipped": flip, "hippocampus_change": float(hippo),
                     "ventricle_change": float(vent), "spacing_mm": float(cfg.grid.spacing_mm),
                     "affine": torch.as_tensor(warped["affine"], dtype=torch.float64)},
        }
        if cfg.return_full_label:
            out["full_label"] = self.fs_ids[labels]
        return out
