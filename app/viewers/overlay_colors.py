"""Colouring overlay slices in numpy: label maps (filled or outlined) and probability heat maps."""

from __future__ import annotations

import numpy as np

from app.state.layers import LABELS, OverlayLayer

# dark red -> orange -> yellow: no white end, which would vanish on bright tissue
_HEAT_ANCHORS = np.array([(0.55, 0.0, 0.05), (0.95, 0.25, 0.0), (1.0, 0.6, 0.0), (1.0, 0.95, 0.2)])
_HEAT = np.stack([np.interp(np.linspace(0, 1, 256), np.linspace(0, 1, len(_HEAT_ANCHORS)), _HEAT_ANCHORS[:, c])
                  for c in range(3)], axis=1).astype(np.float32)  # (256, 3) in 0..1
#: probabilities below this are not drawn (the heat map would otherwise tint the whole slice)
HEAT_THRESHOLD = 0.05


def outline(labels: np.ndarray) -> np.ndarray:
    """Pixels of ``labels`` (2D) whose 4-neighbourhood holds another value: the boundary, 1 px wide."""
    edge = np.zeros(labels.shape, dtype=bool)
    edge[1:, :] |= labels[1:, :] != labels[:-1, :]
    edge[:-1, :] |= labels[:-1, :] != labels[1:, :]
    edge[:, 1:] |= labels[:, 1:] != labels[:, :-1]
    edge[:, :-1] |= labels[:, :-1] != labels[:, 1:]
    return edge & (labels > 0)


def blend_layer(rgba: np.ndarray, layer: OverlayLayer, values: np.ndarray) -> None:
    """Composite one layer's slice ``values`` ``(n_v, n_u)`` over ``rgba`` in place.

    ``rgba`` is float ``(n_v, n_u, 4)`` with PREMULTIPLIED colour (``unpremultiply`` at the end).

    Label maps: ``values`` are labels; probability maps: uint8 0..255 probabilities.
    """
    if layer.kind == LABELS:
        mask = outline(values) if layer.outline else values > 0
        alpha = np.where(mask, 1.0 if layer.outline else layer.opacity, 0.0)
        if layer.outline:
            alpha *= max(layer.opacity, 0.6)  # an outline must stay visible at low opacity
        color = np.zeros(values.shape + (3,), dtype=np.float32)
        for label, rgb in layer.colors.items():
            color[values == label] = rgb
    else:
        p = values.astype(np.float32) / 255.0
        alpha = np.where(p > HEAT_THRESHOLD, layer.opacity * (0.35 + 0.65 * p), 0.0)
        color = _HEAT[np.clip((p * 255).astype(int), 0, 255)]
    a = alpha[..., None].astype(np.float32)
    rgba[..., :3] = color * a + rgba[..., :3] * (1 - a)  # premultiplied 'over'
    rgba[..., 3:] = a + rgba[..., 3:] * (1 - a)


def to_rgba8(premultiplied: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Premultiplied float RGBA -> straight uint8 RGBA into ``out`` (what the texture holds)."""
    alpha = premultiplied[..., 3:]
    rgb = np.divide(premultiplied[..., :3], alpha, out=np.zeros_like(premultiplied[..., :3]), where=alpha > 0)
    out[..., :3] = np.clip(rgb * 255 + 0.5, 0, 255)
    out[..., 3] = np.clip(alpha[..., 0] * 255 + 0.5, 0, 255)
    return out
