"""Faces aligned by their keypoints: the similarity (scale, turn, shift) that takes a face's five
points (eye centres, nose tip, mouth corners, from its 68) onto one canonical template, applied by
the keypoint pipeline's own crop helper (`images.crop_with_map_fast`: antialiased when it shrinks,
reading only the window under the face). Every face that enters recognition goes through it.

    face = aligned_face(image, IBUG68.five_points(points68), size=64)
    wider = aligned_face(image, IBUG68.five_points(points68), size=64, scale=0.8)  # more hair, outline
"""

from __future__ import annotations

import numpy as np

from facekp.data import images
from facekp.data.geometry import similarity_fit
from facekp.schemes import IBUG68

# Where the five points sit in an aligned face, as fractions of its side (x right, y down; image-
# left eye first): the ArcFace/InsightFace 112x112 template, divided by 112.
TEMPLATE = (
    np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]])
    / 112.0
)


def template(size: int, scale: float = 1.0) -> np.ndarray:
    """(5, 2) pixel positions of the five points in a size x size aligned face: TEMPLATE, shrunk
    (scale < 1) or grown about the face's centre pixel."""
    mid = (size - 1) / 2.0
    return mid + (TEMPLATE * size - mid) * scale


def alignment_crop(five: np.ndarray, size: int, scale: float = 1.0) -> tuple[np.ndarray, float, float]:
    """(centre (2,), side, angle in radians) of the square crop of the image that puts `five`
    (5, 2) image points closest to template(size, scale) (crop_map's terms)."""
    factor, rotation, shift = similarity_fit(template(size, scale), np.asarray(five, np.float64))
    mid = (size - 1) / 2.0
    center = factor * rotation @ [mid, mid] + shift
    return center, factor * size, float(np.arctan2(rotation[1, 0], rotation[0, 0]))


def aligned_face(image: np.ndarray, five: np.ndarray, size: int, scale: float = 1.0) -> np.ndarray:
    """The (size, size, C) uint8 aligned face of an (H, W, C) image (uint8 or float 0..255)."""
    center, side, angle = alignment_crop(five, size, scale)
    face, _ = images.crop_with_map_fast(image, center, side, size, angle)
    return np.clip(np.rint(face), 0, 255).astype(np.uint8)


def aligned_faces(image: np.ndarray, points68: np.ndarray, size: int, scale: float = 1.0) -> np.ndarray:
    """(F, size, size, C) uint8 aligned faces of one image for (F, 68, 2) keypoints."""
    fives = IBUG68.five_points(np.asarray(points68, np.float64).reshape(-1, 68, 2))
    channels = image.shape[2] if image.ndim == 3 else 1
    if not len(fives):
        return np.zeros((0, size, size, channels), np.uint8)
    return np.stack([aligned_face(image.reshape(*image.shape[:2], channels), five, size, scale) for five in fives])
