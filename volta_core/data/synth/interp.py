"""Fast separable linear interpolation (CPU-friendly replacement for ``F.interpolate``).

Trilinear upsampling of a small control grid to a large volume is a product of three 1-D
interpolation matrices; three small matmuls are ~8x faster on CPU than
``F.interpolate(mode="trilinear")`` and give the same result (``align_corners=True``).
"""

from __future__ import annotations

import torch


def interp_matrix(n_out: int, n_in: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """``(n_out, n_in)`` linear interpolation weights, first and last samples aligned."""
    if n_in == 1:
        return torch.ones(n_out, 1, device=device)
    pos = torch.linspace(0, n_in - 1, n_out, device=device)
    lo = pos.floor().clamp(max=n_in - 2).long()
    w = pos - lo
    m = torch.zeros(n_out, n_in, device=device)
    rows = torch.arange(n_out, device=device)
    m[rows, lo] = 1 - w
    m[rows, lo + 1] += w
    return m


def upsample(coarse: torch.Tensor, size: tuple[int, int, int], channels_last: bool = False) -> torch.Tensor:
    """Trilinear (align_corners) resize of ``(C, a, b, c)`` to ``size``.

    Args:
        coarse: ``(C, a, b, c)``.
        size: ``(D, H, W)``.
        channels_last: return ``(D, H, W, C)`` instead of ``(C, D, H, W)`` (grid layout).

    Returns:
        The resized tensor.
    """
    ch, a, b, c = coarse.shape
    d, h, w = size
    dev = coarse.device
    ma, mb, mc = interp_matrix(d, a, dev), interp_matrix(h, b, dev), interp_matrix(w, c, dev)
    t = torch.einsum("wc,rabc->rabw", mc, coarse)
    if channels_last:
        t = torch.einsum("hb,rabw->ahwr", mb, t).reshape(a, -1)
        return (ma @ t).reshape(d, h, w, ch)
    t = torch.einsum("hb,rabw->rahw", mb, t).reshape(ch, a, -1)
    return (ma @ t).reshape(ch, d, h, w)


def resample_axis(volume: torch.Tensor, axis: int, n_out: int) -> torch.Tensor:
    """Linear (align_corners) resize of one axis of a ``(D, H, W)`` volume."""
    m = interp_matrix(n_out, volume.shape[axis], volume.device)
    out = torch.tensordot(m, volume.movedim(axis, 0), dims=([1], [0]))
    return out.movedim(0, axis).contiguous()
