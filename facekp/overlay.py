"""Face filters: an RGBA image placed, scaled and rotated by a face's 68 keypoints.

sunglasses (and any PATH.png): centred between the eye centres, as wide as the face at the
temples (points 0-16), turned with the eye line. moustache: centred between the nose base (33)
and the top of the upper lip (51), 1.6 mouth widths wide, turned with the mouth corners.
"""
import os

import cv2
import numpy as np

from facekp.errors import InputError

ASSETS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "assets")
BUILT_IN = ("sunglasses", "moustache")


def load_overlay(name_or_path):
    """An RGBA float image (H, W, 4) in 0..1: a built-in name or a PNG path."""
    path = os.path.join(ASSETS, f"{name_or_path}.png") if name_or_path in BUILT_IN else name_or_path
    image = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if image is None:
        raise InputError(f"{path}: overlay image not found or unreadable")
    if image.ndim == 2 or image.shape[2] != 4:
        raise InputError(f"{path}: overlay must be an RGBA PNG (with transparency)")
    return cv2.cvtColor(image, cv2.COLOR_BGRA2RGBA).astype(np.float32) / 255.0


def placement(points, kind):
    """(centre (2,), width in pixels, angle in radians) of the filter for one face."""
    if kind == "moustache":
        center = (points[33] + points[51]) / 2.0
        left, right = points[48], points[54]
        width = 1.6 * np.linalg.norm(right - left)
    else:
        left, right = points[36:42].mean(0), points[42:48].mean(0)
        center = (left + right) / 2.0
        width = np.linalg.norm(points[16] - points[0])
    angle = np.arctan2(right[1] - left[1], right[0] - left[0])
    return center, float(width), float(angle)


def apply_overlay(photo, overlay, center, width, angle):
    """Alpha-blend `overlay` (RGBA 0..1) onto `photo` (H, W, 3 uint8): its centre at `center`,
    `width` pixels wide, turned by `angle`. Returns a new uint8 image."""
    h, w = overlay.shape[:2]
    scale = width / w
    cos, sin = np.cos(angle) * scale, np.sin(angle) * scale
    # photo = R * s * (overlay - overlay centre) + center
    matrix = np.array([[cos, -sin, center[0] - cos * (w - 1) / 2 + sin * (h - 1) / 2],
                       [sin, cos, center[1] - sin * (w - 1) / 2 - cos * (h - 1) / 2]], np.float32)
    warped = cv2.warpAffine(overlay, matrix, (photo.shape[1], photo.shape[0]), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0, 0))
    alpha = warped[..., 3:4]
    blended = photo.astype(np.float32) / 255.0 * (1 - alpha) + warped[..., :3] * alpha
    return np.clip(np.round(blended * 255), 0, 255).astype(np.uint8)
