"""Multi-scale random crops: two augmented global views of one volume (self-supervised input)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from volta_core.data.augment import Compose, RandomFlip, intensity_augmentations


@dataclass
class MultiViewCrop:
    """Make ``n_views`` views: random box of ``scale`` x the volume edge, resized to ``size``.

    Each view is then flipped (any axis) and photometrically augmented independently.

    Args:
        size: output edge in voxels, or its ``(x, y, z)`` shape.
        scale: range of the crop edge as a fraction of the volume edge (per axis).
        n_views: number of global views (VolTA uses 2).
    """

    size: int | tuple[int, int, int]
    scale: tuple[float, float] = (0.5, 1.0)
    n_views: int = 2
    augment: Compose = field(default_factory=lambda: Compose([RandomFlip(p=0.5), *intensity_augmentations().transforms]))

    def __call__(self, image: np.ndarray, rng: np.random.Generator) -> dict[str, list[torch.Tensor]]:
        """``image`` (D,H,W) -> ``{"views": [ (1, *size) float32 tensors ]}``."""
        views = []
        for _ in range(self.n_views):
            crop = self._crop(image, rng)
            crop = self.augment({"image": crop}, rng)["image"]
            views.append(torch.from_numpy(np.ascontiguousarray(crop, dtype=np.float32))[None])
        return {"views": views}

    def _crop(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        shape = np.array(image.shape)
        edge = np.maximum(1, np.round(shape * rng.uniform(*self.scale))).astype(int)
        start = [int(rng.integers(0, s - e + 1)) for s, e in zip(shape, edge)]
        crop = image[tuple(slice(s, s + e) for s, e in zip(start, edge))]
        shape_out = (self.size,) * 3 if isinstance(self.size, int) else tuple(self.size)
        if tuple(crop.shape) == shape_out:
            return crop.astype(np.float32)
        t = torch.from_numpy(np.ascontiguousarray(crop, dtype=np.float32))[None, None]
        return F.interpolate(t, size=shape_out, mode="trilinear", align_corners=False)[0, 0].numpy()
