"""Face filters: an RGBA image placed, scaled and rotated by a face's 68 keypoints.

sunglasses (and any PATH.png): centred between the eye centres, as wide as the face at the
temples (points 0-16), turned with the eye line. moustache: centred between the nose base (33)
and the top of the upper lip (51), 1.6 mouth widths wide, turned with the mouth corners.
"""

from __future__ import annotations

import os

import numpy as np

from facekp.errors import InputError
from facekp import opencv
from facekp.opencv import cv2

ASSETS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "assets")
BUILT_IN = ("sunglasses", "moustache")


def load_overlay(name_or_path: str) -> np.ndarray:
    """An RGBA float image (H, W, 4) in 0..1: a built-in name or a PNG path."""
    path = os.path.join(ASSETS, f"{name_or_path}.png") if name_or_path in BUILT_IN else name_or_path
    problem = opencv.file_problem(path)
    image = None if problem else opencv.imread(path, cv2.IMREAD_UNCHANGED)
    if image is None:
        raise InputError(f"{path}: overlay image not found or unreadable ({problem or 'not an image OpenCV decodes'})")
    if image.ndim == 2 or image.shape[2] != 4:
        raise InputError(f"{path}: overlay must be an RGBA PNG (with transparency)")
    return cv2.cvtColor(image, cv2.COLOR_BGRA2RGBA).astype(np.float32) / 255.0


def placement(points: np.ndarray, kind: str) -> tuple[np.ndarray, float, float]:
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


def apply_overlay(
    photo: np.ndarray, overlay: np.ndarray, center: np.ndarray, width: float, angle: float, strip_pixels: int = 1 << 21
) -> np.ndarray:
    """Alpha-blend `overlay` (RGBA 0..1) onto `photo` (H, W, 3 uint8) in place: its centre at
    `center`, `width` pixels wide, turned by `angle`. Only the pixels under the overlay are touched,
    in strips of about `strip_pixels`, so memory does not grow with the photo. Returns `photo`."""
    h, w = overlay.shape[:2]
    scale = width / w
    cos, sin = np.cos(angle) * scale, np.sin(angle) * scale
    # photo = R * s * (overlay - overlay centre) + center
    matrix = np.array(
        [
            [cos, -sin, center[0] - cos * (w - 1) / 2 + sin * (h - 1) / 2],
            [sin, cos, center[1] - sin * (w - 1) / 2 - cos * (h - 1) / 2],
        ],
        np.float64,
    )
    corners = np.array([[-0.5, -0.5, 1], [w - 0.5, -0.5, 1], [-0.5, h - 0.5, 1], [w - 0.5, h - 0.5, 1]]) @ matrix.T
    lo, hi = np.floor(np.nan_to_num(corners.min(0))) - 1, np.ceil(np.nan_to_num(corners.max(0))) + 2
    x0, y0 = (int(np.clip(v, 0, n)) for v, n in zip(lo, (photo.shape[1], photo.shape[0])))
    x1, y1 = (int(np.clip(v, 0, n)) for v, n in zip(hi, (photo.shape[1], photo.shape[0])))
    if x1 <= x0 or y1 <= y0:  # wholly outside the photo
        return photo
    rows = max(1, strip_pixels // (x1 - x0))
    for top in range(y0, y1, rows):
        part = photo[top : min(top + rows, y1), x0:x1]
        shifted = (matrix - [[0, 0, x0], [0, 0, top]]).astype(np.float32)
        warped = cv2.warpAffine(
            overlay,
            shifted,
            (part.shape[1], part.shape[0]),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=(0, 0, 0, 0),
        )
        alpha = warped[..., 3:4]
        blended = part.astype(np.float32) / 255.0 * (1 - alpha) + warped[..., :3] * alpha
        part[...] = np.clip(np.round(blended * 255), 0, 255).astype(np.uint8)
    return photo
