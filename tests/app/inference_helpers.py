"""Helpers for the inference GUI tests: run the model and wait, count overlay-coloured pixels."""

from __future__ import annotations

import numpy as np

RUN_TIMEOUT_MS = 180_000


def run_and_wait(qtbot, window):
    """Run the selected model and wait for its Segmentation."""
    with qtbot.waitSignal(window.inference.prediction_added, timeout=RUN_TIMEOUT_MS) as blocker:
        window.inference.run_action.trigger()
    qtbot.wait(50)
    return blocker.args[0]


def orange_pixels(image: np.ndarray) -> int:
    """Pixels tinted by the left-hippocampus orange: red well above blue (grey scans have R == B)."""
    rgb = image[..., :3].astype(int)
    return int(((rgb[..., 0] - rgb[..., 2]) > 60).sum())


def cyan_pixels(image: np.ndarray) -> int:
    """Pixels tinted by the right-hippocampus cyan: blue well above red."""
    rgb = image[..., :3].astype(int)
    return int(((rgb[..., 2] - rgb[..., 0]) > 60).sum())


def pdf_text(data: bytes) -> str:
    """The text drawn in a reportlab PDF: its content streams (ASCII85 + Flate), decoded.

    reportlab writes each text run as ``(text) Tj``; joining the streams is enough to find a phrase.
    """
    import base64
    import re
    import zlib

    chunks = []
    for match in re.finditer(rb"/Filter\s*\[\s*/ASCII85Decode\s*/FlateDecode\s*\][^>]*>>\s*stream\r?\n(.*?)endstream",
                             data, re.S):
        raw = match.group(1).strip()
        if raw.endswith(b"~>"):
            raw = raw[:-2]
        try:
            chunks.append(zlib.decompress(base64.a85decode(raw)).decode("latin-1"))
        except (ValueError, zlib.error):
            continue  # not a text stream
    return "\n".join(chunks)
