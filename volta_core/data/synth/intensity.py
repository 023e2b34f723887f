"""Intensity models in torch: Gaussian mixture per label, blur, thick slices, bias, gamma, noise.

All functions take and return ``(D, H, W)`` float tensors on any device and draw randomness
from an explicit ``torch.Generator`` (big tensors) or plain floats chosen by the caller.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from volta_core.data.synth import fs_labels as fsl
from volta_core.data.synth.interp import resample_axis, upsample


def label_groups(share_lr: bool, share_tissue: bool) -> np.ndarray:
    """Group id per compact label: labels in a group share mean and std.

    Args:
        share_lr: left/right homologues share statistics.
        share_tissue: all labels of one tissue class (e.g. every CSF space) share statistics.

    Returns:
        ``(N_LABELS,)`` int64 group ids.
    """
    groups = np.arange(fsl.N_LABELS, dtype=np.int64)
    if share_tissue:
        names = sorted(set(fsl.TISSUE.values()))
        groups = np.array([names.index(fsl.TISSUE[i]) for i in fsl.FS_LABELS], dtype=np.int64)
    elif share_lr:
        for left, right in fsl.LR_PAIRS:
            groups[fsl.compact_index(right)] = groups[fsl.compact_index(left)]
    return groups


def random_gmm_params(rng: np.random.Generator, groups: np.ndarray, std_max: float = 0.08,
                      background_dark_prob: float = 0.8) -> tuple[np.ndarray, np.ndarray]:
    """Random contrast: a uniform mean and std per label group (SynthSeg-style).

    Returns:
        ``(means, stds)``, each ``(N_LABELS,)`` float32.
    """
    n = int(groups.max()) + 1
    means, stds = rng.uniform(0.0, 1.0, n)[groups], rng.uniform(0.0, std_max, n)[groups]
    if rng.random() < background_dark_prob:
        means[0], stds[0] = 0.0, 0.0
    return means.astype(np.float32), stds.astype(np.float32)


def t1_gmm_params(rng: np.random.Generator, jitter: float = 0.06,
                  std_range: tuple[float, float] = (0.01, 0.04)) -> tuple[np.ndarray, np.ndarray]:
    """T1-like contrast: tissue means from :data:`fs_labels.T1_MEANS` with a little jitter."""
    base = np.array([fsl.T1_MEANS[fsl.TISSUE[i]] for i in fsl.FS_LABELS], dtype=np.float64)
    means = base * (1.0 + rng.normal(0.0, jitter, base.size))
    stds = rng.uniform(*std_range, base.size) * (base > 0)
    means[0] = 0.0
    return means.astype(np.float32) / 1.2, stds.astype(np.float32)


def gmm_image(labels: torch.Tensor, means: torch.Tensor, stds: torch.Tensor,
              generator: torch.Generator) -> torch.Tensor:
    """Draw ``mean[label] + std[label] * N(0, 1)`` per voxel.

    Args:
        labels: ``(D, H, W)`` int64 compact labels.
        means, stds: ``(N_LABELS,)`` float tensors on the same device.

    Returns:
        ``(D, H, W)`` float32 image.
    """
    noise = torch.randn(labels.shape, generator=generator, device=labels.device)
    return means[labels] + stds[labels] * noise


def _kernel(sigma: float, device: torch.device) -> torch.Tensor:
    radius = max(1, int(math.ceil(3.0 * sigma)))
    x = torch.arange(-radius, radius + 1, dtype=torch.float32, device=device)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def _blur_axis(image: torch.Tensor, kernel: torch.Tensor, axis: int) -> torch.Tensor:
    # A weighted sum of shifted views: ~20x faster on CPU than conv3d with a (k, 1, 1) kernel.
    r = (kernel.numel() - 1) // 2
    n = image.shape[axis]
    first = image.narrow(axis, 0, 1)
    last = image.narrow(axis, n - 1, 1)
    expand = list(image.shape)
    expand[axis] = r
    padded = torch.cat([first.expand(expand), image, last.expand(expand)], dim=axis)  # replicate
    out = padded.narrow(axis, 0, n) * float(kernel[0])
    for i in range(1, kernel.numel()):
        out.add_(padded.narrow(axis, i, n), alpha=float(kernel[i]))
    return out


def gaussian_blur(image: torch.Tensor, sigma_vox: tuple[float, float, float]) -> torch.Tensor:
    """Separable Gaussian blur with edge replication; axes with sigma < 0.1 are skipped.

    Args:
        image: ``(D, H, W)``.
        sigma_vox: per-axis sigma in voxels.

    Returns:
        ``(D, H, W)`` blurred image.
    """
    x = image
    for axis, sigma in enumerate(sigma_vox):
        if sigma < 0.1:
            continue
        x = _blur_axis(x, _kernel(float(sigma), torch.device("cpu")), axis)
    return x


def simulate_thick_slices(image: torch.Tensor, axis: int, thickness_mm: float,
                          spacing_mm: float) -> torch.Tensor:
    """Acquire at ``thickness_mm`` along ``axis`` then resample back: blur, down, up.

    The Gaussian's FWHM equals the slice thickness (sigma = 0.42 thickness). A no-op when the
    thickness is not larger than the grid spacing.

    Args:
        image: ``(D, H, W)``.
        axis: 0, 1 or 2.
        thickness_mm: simulated slice thickness.
        spacing_mm: spacing of ``image``.

    Returns:
        ``(D, H, W)`` image with thick-slice blur and interpolation artefacts.
    """
    ratio = thickness_mm / spacing_mm
    if ratio <= 1.05:
        return image
    sigma = [0.0, 0.0, 0.0]
    sigma[axis] = 0.42 * math.sqrt(max(ratio**2 - 1.0, 0.0))  # on top of the grid's own PSF
    x = gaussian_blur(image, tuple(sigma))
    n = image.shape[axis]
    x = resample_axis(x, axis, max(2, int(round(n / ratio))))
    return resample_axis(x, axis, n)


def bias_field(shape: tuple[int, int, int], std: float, control_points: int,
               generator: torch.Generator, device: torch.device | str = "cpu") -> torch.Tensor:
    """Smooth positive multiplicative field: ``exp(N(0, std))`` on a control grid, upsampled.

    Returns:
        ``(D, H, W)`` float32 field.
    """
    coarse = torch.randn((1, 1) + (control_points,) * 3, generator=generator, device=device) * std
    return upsample(torch.exp(coarse[0]), shape)[0]


def minmax(image: torch.Tensor) -> torch.Tensor:
    """Rescale to [0, 1] (constant images become 0)."""
    lo, hi = image.min(), image.max()
    return ((image - lo) / (hi - lo).clamp_min(1e-6)).clamp(0.0, 1.0)


def gamma(image: torch.Tensor, exponent: float) -> torch.Tensor:
    """``image ** exponent`` for an image in [0, 1]."""
    return image.clamp(0.0, 1.0) ** exponent


def add_noise(image: torch.Tensor, std: float, generator: torch.Generator) -> torch.Tensor:
    """Additive Gaussian noise, clipped at 0 (magnitude images are non-negative)."""
    noise = torch.randn(image.shape, generator=generator, device=image.device)
    return (image + std * noise).clamp_min(0.0)


def invert_contrast(image: torch.Tensor, foreground: torch.Tensor) -> torch.Tensor:
    """T2-like inversion inside the head: ``1 - x`` on ``foreground``, background stays 0."""
    return torch.where(foreground, 1.0 - image.clamp(0.0, 1.0), torch.zeros_like(image))
