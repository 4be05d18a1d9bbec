"""Face detection for full photos: OpenCV's bundled Haar cascades (frontal, plus profile faces
turned either way), merged by non-maximum suppression. Nothing is downloaded: the cascade files
ship inside opencv-python-headless 4.x (`cv2.data.haarcascades`; OpenCV 5 dropped them).
"""

import numpy as np

from facekp.opencv import cv2

# Measured on 593 YouTube-Faces frames (every 5th): the 68-point keypoint box of a frontal
# detection is centred 0.16 box widths below the box centre, and its side is 0.87 box widths.
KEYPOINT_BOX_DY = 0.16
KEYPOINT_BOX_SCALE = 0.87

_CASCADES = {}
# The cascades keep buffers of about 100 bytes per pixel of the largest image they searched; after
# a larger image than this they are dropped (reloading them takes about 20 ms).
RELEASE_PIXELS = 1 << 20


def _cascade(name):
    if name not in _CASCADES:
        _CASCADES[name] = cv2.CascadeClassifier(cv2.data.haarcascades + name)
    return _CASCADES[name]


def _detect(gray, name, min_size):
    rects, _, weights = _cascade(name).detectMultiScale3(
        gray, scaleFactor=1.1, minNeighbors=5, minSize=(min_size, min_size), outputRejectLevels=True
    )
    return [(float(x), float(y), float(w), float(h), float(s)) for (x, y, w, h), s in zip(rects, np.ravel(weights))]


def iou(a, b):
    ax, ay, aw, ah = a[:4]
    bx, by, bw, bh = b[:4]
    inter = max(0.0, min(ax + aw, bx + bw) - max(ax, bx)) * max(0.0, min(ay + ah, by + bh) - max(ay, by))
    return inter / (aw * ah + bw * bh - inter)


def non_max_suppression(boxes, threshold=0.3):
    """Keep the highest-scoring box of every group overlapping by more than `threshold` IoU."""
    kept = []
    for box in sorted(boxes, key=lambda b: -b[4]):
        if all(iou(box, k) <= threshold for k in kept):
            kept.append(box)
    return kept


def detect_faces(gray, min_size=24):
    """Face boxes (x, y, w, h, score) in a uint8 grayscale image, best first."""
    boxes = _detect(gray, "haarcascade_frontalface_default.xml", min_size)
    boxes += _detect(gray, "haarcascade_profileface.xml", min_size)
    width = gray.shape[1]
    mirrored = _detect(np.ascontiguousarray(gray[:, ::-1]), "haarcascade_profileface.xml", min_size)
    boxes += [(width - x - w, y, w, h, s) for x, y, w, h, s in mirrored]
    if gray.size > RELEASE_PIXELS:
        _CASCADES.clear()
    return non_max_suppression(boxes)


def keypoint_box(box):
    """A detector box -> the (centre x, centre y, side) of the keypoint box it implies."""
    x, y, w, h = box[:4]
    return x + w / 2.0, y + h / 2.0 + KEYPOINT_BOX_DY * w, KEYPOINT_BOX_SCALE * w
