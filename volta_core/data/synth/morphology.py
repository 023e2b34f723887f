"""Morphological variety on a label map: atrophy / hypertrophy of one structure, by a fraction.

Works on the compact label map of the output grid (torch, any device), inside the
structure's bounding box so it costs little. Voxels are ranked by a smoothed copy of the
structure mask (plus a little noise, so boundaries become irregular): shrinking removes the
``round(|f| V)`` least-interior voxels and gives them to a fill label (hippocampus -> inferior
lateral ventricle, i.e. the enlarged temporal horn of atrophy); growing adds the ``round(f V)``
best-ranked neighbouring voxels whose label is allowed (it never grows into other
hemisphere structures, background or head). The volume change is therefore exact up to the
available room.
"""

from __future__ import annotations

import torch

from volta_core.data.synth import fs_labels as fsl
from volta_core.data.synth.intensity import gaussian_blur

# structure -> (fill label when shrinking, labels it may grow into)
HIPPOCAMPUS_RULES: dict[int, tuple[int, tuple[int, ...]]] = {
    fsl.LEFT_HIPPOCAMPUS: (fsl.LEFT_INF_LAT_VENT, (2, 3, 5, 18, 24, 28)),
    fsl.RIGHT_HIPPOCAMPUS: (fsl.RIGHT_INF_LAT_VENT, (41, 42, 44, 54, 24, 60)),
}
VENTRICLE_RULES: dict[int, tuple[int, tuple[int, ...]]] = {
    fsl.LEFT_LATERAL_VENTRICLE: (2, (2, 10, 11, 31, 77, 251, 252, 253, 254, 255)),
    fsl.RIGHT_LATERAL_VENTRICLE: (41, (41, 49, 50, 63, 77, 251, 252, 253, 254, 255)),
}


def _bbox(mask: torch.Tensor, margin: int) -> tuple[slice, slice, slice]:
    idx = torch.nonzero(mask)
    lo = (idx.min(0).values - margin).clamp_min(0).tolist()
    hi = (idx.max(0).values + margin + 1).tolist()
    return tuple(slice(a, min(b, n)) for a, b, n in zip(lo, hi, mask.shape))  # type: ignore[return-value]


def resize_structure(labels: torch.Tensor, structure: int, fraction: float, fill: int,
                     grow_into: tuple[int, ...], generator: torch.Generator,
                     smooth_vox: float = 1.5, max_rounds: int = 12) -> torch.Tensor:
    """Shrink (``fraction < 0``) or grow (``fraction > 0``) a structure by ``|fraction|`` of its volume.

    Args:
        labels: ``(D, H, W)`` int64 compact labels (not modified).
        structure: FreeSurfer id of the structure.
        fraction: relative volume change, e.g. ``-0.2`` = 20 % atrophy.
        fill: FreeSurfer id given to voxels the structure loses.
        grow_into: FreeSurfer ids the structure may take voxels from.
        generator: torch RNG (tie-breaking noise) on the labels' device.
        smooth_vox: sigma of the ranking blur.
        max_rounds: growth rounds (each can reach ~2 voxels further).

    Returns:
        ``(D, H, W)`` int64 new label map.
    """
    sid, fid = fsl.compact_index(structure), fsl.compact_index(fill)
    out = labels.clone()
    mask = out == sid
    volume = int(mask.sum())
    target = int(round(abs(fraction) * volume))
    if volume == 0 or target == 0:
        return out
    if fraction < 0:
        box = _bbox(mask, 1)
        m = mask[box]
        score = gaussian_blur(m.float(), (smooth_vox,) * 3)
        score = score + 0.05 * torch.rand(score.shape, generator=generator, device=score.device)
        score = torch.where(m, score, torch.full_like(score, float("inf")))
        drop = torch.topk(score.flatten(), min(target, volume), largest=False).indices
        sub = out[box].flatten().clone()
        sub[drop] = fid
        out[box] = sub.view(m.shape)
        return out
    allowed = torch.zeros(fsl.N_LABELS, dtype=torch.bool, device=labels.device)
    allowed[[fsl.compact_index(i) for i in grow_into]] = True
    remaining = target
    for _ in range(max_rounds):
        mask = out == sid
        box = _bbox(mask, int(3 * smooth_vox) + 1)
        m, sub = mask[box], out[box]
        score = gaussian_blur(m.float(), (smooth_vox,) * 3)
        candidates = allowed[sub] & ~m & (score > 0.02)
        n_cand = int(candidates.sum())
        if n_cand == 0:
            break
        score = score + 0.05 * torch.rand(score.shape, generator=generator, device=score.device)
        score = torch.where(candidates, score, torch.full_like(score, -float("inf")))
        take = min(remaining, max(1, n_cand // 2))  # grow in layers so growth stays compact
        add = torch.topk(score.flatten(), take).indices
        flat = sub.flatten().clone()
        flat[add] = sid
        out[box] = flat.view(m.shape)
        remaining -= take
        if remaining == 0:
            break
    return out


def apply_atrophy(labels: torch.Tensor, hippocampus_change: float, ventricle_change: float,
                  generator: torch.Generator) -> torch.Tensor:
    """Change both hippocampi by ``hippocampus_change`` and both lateral ventricles by ``ventricle_change``.

    Args:
        labels: ``(D, H, W)`` int64 compact labels.
        hippocampus_change: relative volume change (negative = atrophy, positive = hypertrophy).
        ventricle_change: relative volume change of the lateral ventricles (positive = enlarged).
        generator: torch RNG.

    Returns:
        ``(D, H, W)`` int64 labels.
    """
    out = labels
    if ventricle_change:  # ventricles first: they must not eat into the resized hippocampi
        for structure, (fill, into) in VENTRICLE_RULES.items():
            out = resize_structure(out, structure, ventricle_change, fill, into, generator)
    if hippocampus_change:
        for structure, (fill, into) in HIPPOCAMPUS_RULES.items():
            out = resize_structure(out, structure, hippocampus_change, fill, into, generator)
    return out
