"""Seeded multi-face test photos for benchmarks/photos68.py: frames of validation people pasted at
random scales and angles on cluttered, face-free backgrounds, with their true 68 points.

Each photo is WIDTH x HEIGHT; each face's keypoint box (the longer side of its 68 points' extent)
is drawn log-uniform from MIN_WIDTH to MAX_WIDTH pixels; about a third of the faces are turned by
up to MAX_ANGLE degrees. Frames never overlap; a frame's edge is feathered into the background.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from facekp.opencv import cv2

WIDTH, HEIGHT = 1600, 1200
MIN_WIDTH, MAX_WIDTH = 24.0, 220.0
MAX_ANGLE = 20.0
TURNED_SHARE = 1.0 / 3.0
FACES_PER_PHOTO = (3, 8)
FEATHER = 0.04  # of the pasted frame's shorter side


@dataclass
class Collage:
    image: np.ndarray  # (HEIGHT, WIDTH, 3) uint8 RGB
    keypoints: np.ndarray  # (F, 68, 2) true points in photo pixels
    frames: list[int]  # the source frame of each face


def background(rng: np.random.Generator, width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    """A cluttered, face-free RGB background: coloured low-frequency noise under a few hundred
    random shapes, lines and letters, then a little blur and grain."""
    coarse = rng.uniform(0, 255, (rng.integers(3, 9), rng.integers(3, 9), 3)).astype(np.float32)
    image = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC).clip(0, 255).astype(np.uint8)
    for _ in range(int(rng.integers(150, 300))):
        color = tuple(int(c) for c in rng.integers(0, 256, 3))
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        size = int(np.exp(rng.uniform(np.log(4), np.log(200))))
        kind = rng.integers(0, 5)
        thickness = -1 if rng.random() < 0.5 else int(rng.integers(1, 5))
        if kind == 0:
            cv2.rectangle(image, (x, y), (x + size, y + int(size * rng.uniform(0.2, 2))), color, thickness)
        elif kind == 1:
            axes = (size, max(1, int(size * rng.uniform(0.2, 1))))
            cv2.ellipse(image, (x, y), axes, float(rng.uniform(0, 180)), 0, 360, color, thickness)
        elif kind == 2:
            end = (x + int(rng.normal(0, size)), y + int(rng.normal(0, size)))
            cv2.line(image, (x, y), end, color, int(rng.integers(1, 6)))
        elif kind == 3:
            points = np.array([x, y]) + rng.normal(0, size / 2, (int(rng.integers(3, 7)), 2))
            cv2.fillPoly(image, [points.astype(np.int32)], color)
        else:
            text = "".join(chr(int(c)) for c in rng.integers(65, 91, int(rng.integers(2, 8))))
            cv2.putText(image, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, size / 40, color, int(rng.integers(1, 4)))
    image = cv2.GaussianBlur(image, (0, 0), float(rng.uniform(0.5, 1.5)))
    grain = rng.normal(0, 4, image.shape)
    return (image + grain).clip(0, 255).astype(np.uint8)


def paste_map(frame_shape, points, rng, box_width, angle):
    """The affine map (2x3, frame -> photo, before placing) that scales the frame so its keypoint
    box is `box_width` wide and turns it by `angle` degrees about its centre; and the bounds of
    the turned frame (x0, y0, x1, y1) in that map's pixels."""
    h, w = frame_shape[:2]
    side = float((points.max(0) - points.min(0)).max())
    scale = box_width / side
    matrix = cv2.getRotationMatrix2D(((w - 1) / 2.0, (h - 1) / 2.0), angle, scale)
    corners = np.array([[0, 0], [w - 1, 0], [0, h - 1], [w - 1, h - 1]], np.float64)
    mapped = corners @ matrix[:, :2].T + matrix[:, 2]
    return matrix, (*mapped.min(0), *mapped.max(0))


def overlaps(box, boxes, gap=8):
    return any(
        box[0] < b[2] + gap and b[0] < box[2] + gap and box[1] < b[3] + gap and b[1] < box[3] + gap for b in boxes
    )


def paste(canvas: np.ndarray, frame: np.ndarray, matrix: np.ndarray) -> None:
    """Warp `frame` by `matrix` onto `canvas` in place, its edges feathered."""
    h, w = frame.shape[:2]
    feather = max(1, int(FEATHER * min(h, w)))
    mask = np.zeros((h, w), np.float32)
    mask[feather:-feather, feather:-feather] = 1.0
    mask = cv2.GaussianBlur(mask, (0, 0), feather / 2.0)
    size = (canvas.shape[1], canvas.shape[0])
    warped = cv2.warpAffine(frame, matrix, size, flags=cv2.INTER_AREA if matrix[0, 0] < 1 else cv2.INTER_LINEAR)
    alpha = cv2.warpAffine(mask, matrix, size, flags=cv2.INTER_LINEAR)[..., None]
    canvas[:] = (canvas * (1 - alpha) + warped * alpha).round().astype(np.uint8)


def make_collage(rng: np.random.Generator, frames, keypoints: np.ndarray, pool: list[int]) -> Collage:
    """One photo: 3-8 faces drawn from `pool` (indices into `frames`/`keypoints`; frames is a
    function index -> (H, W, 3) uint8 RGB), placed where they fit without overlapping."""
    canvas = background(rng)
    wanted = int(rng.integers(FACES_PER_PHOTO[0], FACES_PER_PHOTO[1] + 1))
    placed, points, chosen = [], [], []
    for index in rng.choice(pool, size=wanted, replace=False):
        frame = frames(int(index))
        box_width = math.exp(rng.uniform(math.log(MIN_WIDTH), math.log(MAX_WIDTH)))
        angle = float(rng.uniform(-MAX_ANGLE, MAX_ANGLE)) if rng.random() < TURNED_SHARE else 0.0
        matrix, (x0, y0, x1, y1) = paste_map(frame.shape, keypoints[index], rng, box_width, angle)
        for _ in range(200):
            dx = rng.uniform(-x0, WIDTH - 1 - x1) if x1 - x0 < WIDTH - 1 else None
            dy = rng.uniform(-y0, HEIGHT - 1 - y1) if y1 - y0 < HEIGHT - 1 else None
            if dx is None or dy is None:
                break
            bounds = (x0 + dx, y0 + dy, x1 + dx, y1 + dy)
            if not overlaps(bounds, placed):
                matrix = matrix + np.array([[0, 0, dx], [0, 0, dy]])
                paste(canvas, frame, matrix)
                placed.append(bounds)
                points.append(keypoints[index] @ matrix[:, :2].T + matrix[:, 2])
                chosen.append(int(index))
                break
    return Collage(canvas, np.array(points, np.float32).reshape(-1, 68, 2), chosen)
