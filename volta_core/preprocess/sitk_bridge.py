"""Conversions between numpy/RAS affines and SimpleITK images/transforms (LPS)."""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

#: RAS <-> LPS: negate x and y.
RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])


def array_to_sitk(data: np.ndarray, affine: np.ndarray) -> sitk.Image:
    """A float32 SimpleITK image with the geometry of ``affine`` (voxel -> RAS mm).

    Shear, which ITK cannot represent, is dropped by taking the nearest rotation (polar
    decomposition) of the direction matrix.
    """
    affine = np.asarray(affine, dtype=np.float64)
    spacing = np.linalg.norm(affine[:3, :3], axis=0)
    direction = affine[:3, :3] / spacing
    u, _, vt = np.linalg.svd(direction)
    direction = u @ vt
    lps = RAS_TO_LPS @ affine
    image = sitk.GetImageFromArray(np.ascontiguousarray(np.asarray(data, dtype=np.float32).transpose(2, 1, 0)))
    image.SetSpacing(tuple(float(s) for s in spacing))
    image.SetOrigin(tuple(float(v) for v in lps[:3, 3]))
    image.SetDirection(tuple(float(v) for v in (RAS_TO_LPS[:3, :3] @ direction).ravel()))
    return image


def sitk_to_array(image: sitk.Image) -> np.ndarray:
    """Voxel array of a SimpleITK image in ``(I, J, K)`` order."""
    return sitk.GetArrayFromImage(image).transpose(2, 1, 0)


def sitk_affine(image: sitk.Image) -> np.ndarray:
    """``(4, 4)`` voxel -> RAS mm map of a SimpleITK image."""
    direction = np.asarray(image.GetDirection()).reshape(3, 3)
    lps = np.eye(4)
    lps[:3, :3] = direction * np.asarray(image.GetSpacing())
    lps[:3, 3] = image.GetOrigin()
    return RAS_TO_LPS @ lps


def transform_to_ras_matrix(transform: sitk.Transform) -> np.ndarray:
    """``(4, 4)`` RAS matrix of a linear SimpleITK transform (maps fixed -> moving points)."""
    dim = 3
    affine = sitk.AffineTransform(dim)
    affine.SetMatrix(transform.GetMatrix())
    affine.SetTranslation(transform.GetTranslation())
    affine.SetCenter(transform.GetFixedParameters()[:3])
    matrix = np.asarray(affine.GetMatrix()).reshape(3, 3)
    center = np.asarray(affine.GetCenter())
    lps = np.eye(4)
    lps[:3, :3] = matrix
    lps[:3, 3] = np.asarray(affine.GetTranslation()) + center - matrix @ center
    return RAS_TO_LPS @ lps @ RAS_TO_LPS


def ras_matrix_to_transform(matrix: np.ndarray) -> sitk.AffineTransform:
    """A SimpleITK affine transform from a ``(4, 4)`` RAS matrix (fixed -> moving points)."""
    lps = RAS_TO_LPS @ np.asarray(matrix, dtype=np.float64) @ RAS_TO_LPS
    transform = sitk.AffineTransform(3)
    transform.SetMatrix(tuple(float(v) for v in lps[:3, :3].ravel()))
    transform.SetTranslation(tuple(float(v) for v in lps[:3, 3]))
    return transform
