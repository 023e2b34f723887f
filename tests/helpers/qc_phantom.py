"""A small head phantom with all six structures of a ``synth.structures`` model, for QC pictures.

Everything is placed in RAS mm around the grid centre, so any spacing gives the same anatomy:
an ellipsoidal head and brain, hippocampi at x = -/+26 mm (left/right), amygdalae just anterior
to them, an inferior lateral ventricle on the lateral-superior side of each hippocampus.
"""

from __future__ import annotations

import numpy as np

#: label values as ``volta_core.contracts.prediction.label_names_for(7)`` names them
LEFT_HIPPOCAMPUS, RIGHT_HIPPOCAMPUS, LEFT_AMYGDALA, RIGHT_AMYGDALA, LEFT_ILV, RIGHT_ILV = range(1, 7)
LABEL_NAMES = {0: "background", 1: "left hippocampus", 2: "right hippocampus", 3: "left amygdala",
               4: "right amygdala", 5: "left inferior lateral ventricle", 6: "right inferior lateral ventricle"}


def qc_phantom(shape: tuple[int, int, int] = (64, 72, 60), zooms: tuple[float, float, float] = (2.0, 2.0, 2.0), *,
               hippocampus_scale: float = 1.0, structures: tuple[int, ...] = (1, 2, 3, 4, 5, 6),
               seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(image, labels)`` on a RAS grid: image float32 (brain ~100, hippocampus 80, CSF 30),
    labels uint8 with the requested ``structures`` only.

    Args:
        shape: grid shape (x, y, z); the anatomy is cut off where the grid ends.
        zooms: voxel size in mm.
        hippocampus_scale: scales each hippocampus (atrophy below 1).
        structures: which labels to draw (1..6).
        seed: noise seed.
    """
    axes = [(np.arange(n) - (n - 1) / 2) * z for n, z in zip(shape, zooms)]
    x, y, z = np.meshgrid(*axes, indexing="ij")
    rng = np.random.default_rng(seed)

    def ellipsoid(centre: tuple[float, float, float], radii: tuple[float, float, float]) -> np.ndarray:
        return ((x - centre[0]) / radii[0]) ** 2 + ((y - centre[1]) / radii[1]) ** 2 + \
            ((z - centre[2]) / radii[2]) ** 2 <= 1.0

    image = np.zeros(shape, np.float32)
    image[ellipsoid((0, 0, 0), (66, 80, 66))] = 55.0  # scalp and skull
    image[ellipsoid((0, 0, 0), (60, 74, 60))] = 100.0  # brain
    image[ellipsoid((0, 8, 14), (16, 30, 10))] = 30.0  # lateral ventricles
    image[x > 0] *= 1.04  # the two sides differ a little: a mirrored picture would show
    labels = np.zeros(shape, np.uint8)
    s = hippocampus_scale
    for side, hippocampus, amygdala, ventricle in ((-1, 1, 3, 5), (1, 2, 4, 6)):
        parts = {
            amygdala: ellipsoid((side * 22, -4, -20), (7, 7, 7)),
            hippocampus: ellipsoid((side * 27, -24, -15), (6 * s, 17 * s, 6 * s)),
            ventricle: ellipsoid((side * 33, -22, -9), (2.5, 12, 2.5)),
        }
        for value, inside in parts.items():
            image[inside] = {hippocampus: 80.0, amygdala: 85.0, ventricle: 30.0}[value]
            if value in structures:
                labels[inside] = value
    image += rng.normal(0, 3, shape).astype(np.float32)
    return np.clip(image, 0, None), labels
