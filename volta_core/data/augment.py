"""3D augmentations on sample dicts ``{"image": (D,H,W) float32, "mask": (D,H,W) int64 (optional)}``.

Every transform takes the sample and a ``numpy.random.Generator`` and returns a NEW dict, so
randomness is explicit and reproducible (the datasets derive the generator from seed, epoch and
index). Arrays are in RAS order: axis 0 runs from the subject's left to right, so a flip of axis
0 crosses the midline and swaps the labels 1 (left) and 2 (right).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
import torch
import torch.nn.functional as F

Sample = dict[str, np.ndarray]
LEFT_RIGHT_AXIS = 0
LABEL_SWAP = {1: 2, 2: 1}


def swap_left_right(mask: np.ndarray) -> np.ndarray:
    """Left <-> right labels: 1 <-> 2 (hippocampus), 3 <-> 4, 5 <-> 6 ... (odd = left, even = right)."""
    out = mask.copy()
    fg = mask > 0
    odd = fg & (mask % 2 == 1)
    out[odd] = mask[odd] + 1
    out[fg & ~odd] = mask[fg & ~odd] - 1
    return out


@dataclass
class RandomFlip:
    """Flip each axis with probability ``p``; a left-right flip swaps labels 1 and 2."""

    p: float = 0.5
    axes: tuple[int, ...] = (0, 1, 2)

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        out = dict(sample)
        for axis in self.axes:
            if rng.random() < self.p:
                out["image"] = np.flip(out["image"], axis=axis)
                if "mask" in out:
                    out["mask"] = np.flip(out["mask"], axis=axis)
                    if axis == LEFT_RIGHT_AXIS:
                        out["mask"] = swap_left_right(out["mask"])
        return {k: np.ascontiguousarray(v) if isinstance(v, np.ndarray) else v for k, v in out.items()}


@dataclass
class RandomAffine:
    """Rotation (degrees about each axis) and isotropic scaling about the volume centre.

    The image is interpolated linearly, the mask with nearest neighbour, on the same grid.
    """

    p: float = 0.5
    max_rotation: float = 10.0
    scale: tuple[float, float] = (0.9, 1.1)

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        if rng.random() >= self.p:
            return dict(sample)
        angles = np.deg2rad(rng.uniform(-self.max_rotation, self.max_rotation, size=3))
        matrix = _rotation(angles) / rng.uniform(*self.scale)  # output -> input coordinates
        centre = (np.array(sample["image"].shape) - 1) / 2.0
        offset = centre - matrix @ centre
        out = dict(sample)
        img = sample["image"]
        out["image"] = ndimage.affine_transform(img, matrix, offset=offset, order=1, mode="constant",
                                                cval=float(img.min()), prefilter=False).astype(np.float32)
        if "mask" in sample:
            out["mask"] = ndimage.affine_transform(sample["mask"], matrix, offset=offset, order=0,
                                                   mode="constant", cval=0)
        return out


def _rotation(angles: np.ndarray) -> np.ndarray:
    cx, cy, cz = np.cos(angles)
    sx, sy, sz = np.sin(angles)
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rz @ ry @ rx


@dataclass
class RandomGamma:
    """``x -> x ** gamma`` on the [0, 1]-rescaled image, gamma log-uniform in ``range``."""

    p: float = 0.5
    range: tuple[float, float] = (0.7, 1.5)

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        if rng.random() >= self.p:
            return dict(sample)
        img = sample["image"]
        lo, hi = float(img.min()), float(img.max())
        gamma = float(np.exp(rng.uniform(np.log(self.range[0]), np.log(self.range[1]))))
        scaled = (img - lo) / max(hi - lo, 1e-6)
        return {**sample, "image": (scaled ** gamma * (hi - lo) + lo).astype(np.float32)}


@dataclass
class RandomBiasField:
    """Multiply by a smooth positive field (exp of an upsampled coarse random grid)."""

    p: float = 0.5
    strength: float = 0.3
    grid: int = 4

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        if rng.random() >= self.p:
            return dict(sample)
        img = sample["image"]
        coarse = rng.normal(0.0, self.strength, size=(self.grid,) * 3)
        # trilinear upsampling in torch: ~3 ms at 96^3 where a cubic ndimage.zoom took ~140 ms and
        # starved training of data; exp() of a 4^3 control grid is smooth either way
        grid = torch.from_numpy(coarse.astype(np.float32))[None, None]  # (1, 1, g, g, g)
        log_field = F.interpolate(grid, size=tuple(img.shape), mode="trilinear", align_corners=True)[0, 0]
        return {**sample, "image": (img * np.exp(log_field.numpy())).astype(np.float32)}


@dataclass
class RandomBlur:
    """Gaussian blur with sigma (voxels) uniform in ``sigma``."""

    p: float = 0.3
    sigma: tuple[float, float] = (0.3, 1.0)

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        if rng.random() >= self.p:
            return dict(sample)
        sigma = rng.uniform(*self.sigma)
        return {**sample, "image": ndimage.gaussian_filter(sample["image"], sigma).astype(np.float32)}


@dataclass
class RandomNoise:
    """Additive Gaussian noise with std uniform in ``std`` (image units)."""

    p: float = 0.5
    std: tuple[float, float] = (0.0, 0.05)

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        if rng.random() >= self.p:
            return dict(sample)
        img = sample["image"]
        std = float(rng.uniform(*self.std))
        # torch's float32 normals, seeded from this sample's generator: ~4x faster than numpy's
        # float64 normal() + cast, which made this the costliest photometric augmentation
        gen = torch.Generator().manual_seed(int(rng.integers(0, 2**62)))
        noise = torch.randn(tuple(img.shape), generator=gen).numpy()
        return {**sample, "image": (img + std * noise).astype(np.float32, copy=False)}


@dataclass
class Compose:
    """Apply transforms in order with one generator."""

    transforms: Sequence[Callable[[Sample, np.random.Generator], Sample]]

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        for t in self.transforms:
            sample = t(sample, rng)
        return sample


def intensity_augmentations() -> Compose:
    """Gamma, bias field, blur and noise (the photometric part, used for SSL views)."""
    return Compose([RandomGamma(), RandomBiasField(), RandomBlur(), RandomNoise()])


def supervised_augmentations(*, spatial: bool = True) -> Compose:
    """Fine-tuning augmentations: flips (with label swap), small affine, then photometric."""
    spatial_t: list = [RandomFlip(p=0.5, axes=(0,)), RandomAffine(p=0.3)] if spatial else []
    return Compose([*spatial_t, *intensity_augmentations().transforms])
