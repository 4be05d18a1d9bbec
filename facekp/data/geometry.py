"""Face geometry on numpy arrays: the keypoint box every crop is placed from, and the crop map."""

from __future__ import annotations

import numpy as np


def face_boxes(keypoints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centre (N, 2) and side (N,) of each face's keypoint box (square: the longer side)."""
    lo, hi = np.nanmin(keypoints, axis=1), np.nanmax(keypoints, axis=1)
    return (lo + hi) / 2.0, (hi - lo).max(axis=1)


def image_to_crop(points: np.ndarray, A: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Image points (K, 2) in the pixels of a crop whose map to the image is A (2, 2), t (2,): the
    inverse of `points @ A.T + t`."""
    return np.linalg.solve(A, (points - t).T).T


def crop_map(
    center: np.ndarray | tuple[float, float], width: float, height: float, size: int, angle: float = 0.0
) -> np.ndarray:
    """The affine map (2x3, output pixel -> source pixel) of a size x size crop that shows the
    width x height box around `center` (pixel centres at integers), turned by `angle` (radians,
    image axes: x right, y down): the numpy twin of augment.crop_affine without flip, used by every
    OpenCV crop (predict's keypoint crops, recognition faces)."""
    (cx, cy), sx, sy, mid = center, width / size, height / size, (size - 1) / 2.0
    cos, sin = np.cos(angle), np.sin(angle)
    A = np.array([[cos * sx, -sin * sy], [sin * sx, cos * sy]])
    return np.concatenate([A, (np.array([cx, cy]) - A @ [mid, mid])[:, None]], axis=1)


def similarity_fit(source: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """The similarity (scale s, rotation R (2, 2), translation t) taking `source` (N, 2) points
    closest to `target` (N, 2) in least squares: target ~ s * source @ R.T + t (Umeyama)."""
    mu_s, mu_t = source.mean(0), target.mean(0)
    a, b = source - mu_s, target - mu_t
    u, sigma, vt = np.linalg.svd(b.T @ a)
    d = np.diag([1.0, np.sign(np.linalg.det(u @ vt))])
    rotation = u @ d @ vt
    scale = float(np.trace(np.diag(sigma) @ d) / (a**2).sum())
    return scale, rotation, mu_t - scale * mu_s @ rotation.T
