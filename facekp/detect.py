"""Face detection for full photos, and where each detection starts the keypoint search.

Two detectors, both shipped inside their packages (nothing is downloaded):
- `mtcnn` (default): MTCNN (the `mtcnn` package: three TensorFlow networks, MIT licence, weights in
  its wheel): boxes and five landmarks (eye centres, nose tip, mouth corners). Its networks run
  under `tf.function` here (the package calls them eagerly), which makes it ~1.5x faster. A
  photo in which it finds no face, or a gray one, gets a second look (`second_look`).
- `haar`: OpenCV's Haar cascades (frontal, plus profile faces turned either way), merged by
  non-maximum suppression; boxes only, light and fast to load (`cv2.data.haarcascades`).

A detection becomes a keypoint box (centre x, centre y, side of the 68 points' extent) by
`start_box`: "box" (default), a per-detector calibration of its box; "landmarks", a similarity
fit of MTCNN's five points to the same five points of the mean face (measured on
benchmarks/photos68.py: NME 4.57% against the box's 4.52%). MTCNN detections are then cross-checked
by the keypoint model (`confirmed`). The constants come from `python
benchmarks/calibrate_detectors.py` (the training people's frames of youtube-faces-68).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import tensorflow as tf
from mtcnn import MTCNN
from mtcnn.stages import StageONet, StagePNet, StageRNet

from facekp.data import geometry
from facekp.data.images import GRAY_WEIGHTS
from facekp.opencv import cv2

DETECTORS = ("mtcnn", "haar")
DEFAULT_DETECTOR = "mtcnn"
STARTS = ("landmarks", "box")  # where the keypoint search starts: see start_box
DEFAULT_START = "box"  # measured better than "landmarks" (benchmarks/photos68.py)

# Keypoint box of a detector's box: centre offset (dx, dy) and side, in box widths.
BOX_CALIBRATION = {"haar": (0.002, 0.157, 0.874), "mtcnn": (0.028, 0.193, 1.125)}
# The five landmarks of the mean face, in keypoint-box units (centre 0, side 1): image-left eye
# centre, image-right eye centre, nose tip, image-left and image-right mouth corner.
MEAN_LANDMARKS = np.array([[-0.209, -0.3], [0.188, -0.311], [-0.008, -0.07], [-0.173, 0.149], [0.163, 0.14]])

# A detection with landmarks is kept when the keypoint model's eye centres, nose tip and mouth
# corners lie on average within this share of its keypoint box of the detector's five landmarks.
LANDMARK_AGREEMENT = 0.12

MTCNN_MIN_SCORE = 0.9
# Pixels; the smallest face its image pyramid looks for. The package builds as many levels for
# any value, so above 20 its last ones fall under 12 px and it finds nothing at all.
MTCNN_MIN_FACE = 20
# MTCNN's second look (second_look) sees the photo equalised and shrunk by this: faces from 40 px.
SECOND_LOOK_SCALE = 0.5
# A photo whose chroma (YCrCb's Cr and Cb) varies by less than this standard deviation is gray:
# MTCNN gets no colour from it (114 of wild-68's 1,207 photos are under it, 100 of them at 0).
COLOURLESS_CHROMA = 3.0


@dataclass(frozen=True)
class Detection:
    """One face found: box (x, y, w, h) in pixels, score, and five landmarks (5, 2) or None."""

    box: tuple[float, float, float, float]
    score: float
    landmarks: np.ndarray | None = None
    detector: str = "haar"

    def scaled(self, fx: float, fy: float) -> Detection:
        """The same detection in an image scaled by (fx, fy) (pixel centres kept)."""
        x, y, w, h = self.box
        box = (x / fx, y / fy, w / fx, h / fy)
        marks = None if self.landmarks is None else (self.landmarks + 0.5) / (fx, fy) - 0.5
        return Detection(box, self.score, marks, self.detector)


# ---- Haar cascades.

_CASCADES = {}
# The cascades keep buffers of about 100 bytes per pixel of the largest image they searched; after
# a larger image than this they are dropped (reloading them takes about 20 ms).
RELEASE_PIXELS = 1 << 20


def _cascade(name: str):
    if name not in _CASCADES:
        _CASCADES[name] = cv2.CascadeClassifier(cv2.data.haarcascades + name)
    return _CASCADES[name]


def _cascade_boxes(gray: np.ndarray, name: str, min_size: int) -> list[tuple]:
    rects, _, weights = _cascade(name).detectMultiScale3(
        gray, scaleFactor=1.1, minNeighbors=5, minSize=(min_size, min_size), outputRejectLevels=True
    )
    return [(float(x), float(y), float(w), float(h), float(s)) for (x, y, w, h), s in zip(rects, np.ravel(weights))]


def iou(a: tuple, b: tuple) -> float:
    """Intersection over union of two (x, y, w, h, ...) boxes."""
    ax, ay, aw, ah = a[:4]
    bx, by, bw, bh = b[:4]
    inter = max(0.0, min(ax + aw, bx + bw) - max(ax, bx)) * max(0.0, min(ay + ah, by + bh) - max(ay, by))
    return inter / (aw * ah + bw * bh - inter)


def non_max_suppression(boxes: list, threshold: float = 0.3) -> list:
    """Keep the highest-scoring box of every group overlapping by more than `threshold` IoU."""
    kept = []
    for box in sorted(boxes, key=lambda b: -b[4]):
        if all(iou(box, k) <= threshold for k in kept):
            kept.append(box)
    return kept


def haar_faces(gray: np.ndarray, min_size: int = 24) -> list[Detection]:
    """Faces in a uint8 grayscale image by OpenCV's cascades, best first."""
    boxes = _cascade_boxes(gray, "haarcascade_frontalface_default.xml", min_size)
    boxes += _cascade_boxes(gray, "haarcascade_profileface.xml", min_size)
    width = gray.shape[1]
    mirrored = _cascade_boxes(np.ascontiguousarray(gray[:, ::-1]), "haarcascade_profileface.xml", min_size)
    boxes += [(width - x - w, y, w, h, s) for x, y, w, h, s in mirrored]
    if gray.size > RELEASE_PIXELS:
        _CASCADES.clear()
    return [Detection(b[:4], b[4]) for b in non_max_suppression(boxes)]


# ---- MTCNN.


class _PhotoOncePNet(StagePNet):
    """MTCNN's first stage, given the photo as one float32 tensor: the package's stage converts
    the (float64) numpy photo to a tensor again for each of its ~12 pyramid levels."""

    def __call__(self, images_normalized, *args, **kwargs):
        return super().__call__(tf.convert_to_tensor(images_normalized, tf.float32), *args, **kwargs)


class Mtcnn:
    """The `mtcnn` package's three stages, each network compiled once with `tf.function` (shapes
    relaxed, so new photo sizes and face counts reuse the traces)."""

    def __init__(self):
        self.mtcnn = MTCNN(stages=[_PhotoOncePNet, StageRNet, StageONet])
        for stage in self.mtcnn.stages:
            stage._model = tf.function(stage._model, reduce_retracing=True)

    def __call__(self, rgb: np.ndarray) -> list[Detection]:
        """Faces in an (H, W, 3) uint8 RGB image scoring at least MTCNN_MIN_SCORE, best first: one
        pass, then a second look when that pass found nothing or the photo is colourless."""
        faces = self.faces(rgb)
        if not faces or colourless(rgb):
            faces = merged(faces, self.second_look(rgb))
        return faces

    def second_look(self, rgb: np.ndarray) -> list[Detection]:
        """Faces in the photo with its luminance equalised, shrunk by SECOND_LOOK_SCALE.

        MTCNN misses clear faces two ways (measured on wild-68 and on gray, low-contrast copies of
        it and of benchmarks/photos68.py's collages). Without colour and contrast its first stage
        proposes nothing near the face: such copies of 302 wild-68 photos lose 68 faces, a 0.3
        threshold finds 1 of them again, this look 63. And a face whose one refined candidate the
        last stage scores just under its threshold is lost, which most changes to the pixels undo:
        of the 16 wild-68 faces missed, this look finds 13. Shrunk, it costs under half a pass and
        sees fewer false faces in equalised noise (on 1,696 face-free strips of wild-68 photos: 8
        new detections, 4 of them real faces and the rest dropped by `confirmed`; 18 at full size)."""
        h, w = rgb.shape[:2]
        size = (max(1, round(w * SECOND_LOOK_SCALE)), max(1, round(h * SECOND_LOOK_SCALE)))
        small = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        fx, fy = size[0] / w, size[1] / h
        return [face.scaled(fx, fy) for face in self.faces(equalised(small))]

    def faces(self, rgb: np.ndarray) -> list[Detection]:
        """One pass of the three stages over the image."""
        photo = rgb.astype(np.float32)  # normalised by the package in float32, not float64
        found = self.mtcnn.detect_faces(photo, output_type="numpy", box_format="xyxy", min_face_size=MTCNN_MIN_FACE)
        faces = []
        for row in sorted(np.asarray(found, np.float64).reshape(-1, 16), key=lambda r: -r[5]):
            if row[5] >= MTCNN_MIN_SCORE:
                x0, y0, x1, y1 = row[1:5]
                faces.append(Detection((x0, y0, x1 - x0, y1 - y0), float(row[5]), row[6:16].reshape(2, 5).T, "mtcnn"))
        return faces


def colourless(rgb: np.ndarray) -> bool:
    """Whether a photo is gray: its chroma varies less than COLOURLESS_CHROMA (every 4th pixel each
    way)."""
    chroma = cv2.cvtColor(np.ascontiguousarray(rgb[::4, ::4]), cv2.COLOR_RGB2YCrCb)[..., 1:]
    return float(chroma.reshape(-1, 2).std(axis=0).max()) < COLOURLESS_CHROMA


def equalised(rgb: np.ndarray) -> np.ndarray:
    """The photo with its luminance (YCrCb's Y) histogram-equalised, its colours kept."""
    ycc = cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb)
    ycc[..., 0] = cv2.equalizeHist(ycc[..., 0])
    return cv2.cvtColor(ycc, cv2.COLOR_YCrCb2RGB)


def merged(faces: list[Detection], more: list[Detection], overlap: float = 0.3) -> list[Detection]:
    """`faces` and those of `more` overlapping none of them by more than `overlap` IoU, best first."""
    extra = [face for face in more if all(iou(face.box, kept.box) <= overlap for kept in faces)]
    return sorted(faces + extra, key=lambda face: -face.score)


_DETECTORS: dict[str, Callable] = {}


def detector(name: str = DEFAULT_DETECTOR) -> Callable[[np.ndarray], list[Detection]]:
    """The detector `name` (loaded once, then reused): a function (H, W, 3) uint8 RGB ->
    [Detection], best first."""
    if name not in DETECTORS:
        raise ValueError(f"unknown detector {name!r} (choose from {', '.join(DETECTORS)})")
    if name not in _DETECTORS:
        _DETECTORS[name] = Mtcnn() if name == "mtcnn" else lambda rgb: haar_faces(gray_of(rgb))
    return _DETECTORS[name]


def gray_of(rgb: np.ndarray) -> np.ndarray:
    """(H,W,3) RGB, uint8 or float 0..255 -> (H,W) uint8 luminance (TF's rgb_to_grayscale
    weights), without a float copy of the image."""
    gray = cv2.transform(rgb, GRAY_WEIGHTS)
    return gray if gray.dtype == np.uint8 else np.round(gray).astype(np.uint8)


def as_channels(image: np.ndarray, channels: int) -> np.ndarray:
    """(H, W, channels) uint8 of an (H, W), (H, W, 1) or (H, W, 3) RGB uint8 image, as a model
    with `channels` inputs reads it (gray: gray_of)."""
    image = image.reshape(*image.shape[:2], -1)
    if image.shape[2] == channels:
        return image
    return gray_of(image)[..., None] if channels == 1 else np.repeat(image, 3, axis=2)


# ---- Where the keypoint search starts.


def landmark_box(landmarks: np.ndarray) -> tuple[float, float, float]:
    """Keypoint box (centre x, centre y, side) of the mean face fitted to five landmarks."""
    scale, _, shift = geometry.similarity_fit(MEAN_LANDMARKS, np.asarray(landmarks, np.float64))
    return float(shift[0]), float(shift[1]), scale


def calibrated_box(box: tuple, detector_name: str) -> tuple[float, float, float]:
    """Keypoint box (centre x, centre y, side) implied by a detector's box (x, y, w, h)."""
    dx, dy, side = BOX_CALIBRATION[detector_name]
    x, y, w, h = box[:4]
    return x + w / 2.0 + dx * w, y + h / 2.0 + dy * w, side * w


def start_box(face: Detection, start: str = DEFAULT_START) -> tuple[float, float, float]:
    """Where the keypoint search starts for a detection: with `start` "landmarks", its landmarks'
    fit when it has them; else (or "box") its calibrated box."""
    if start not in STARTS:
        raise ValueError(f"unknown start {start!r} (choose from {', '.join(STARTS)})")
    if start == "landmarks" and face.landmarks is not None:
        return landmark_box(face.landmarks)
    return calibrated_box(face.box, face.detector)


def disagreement(face: Detection, five: np.ndarray, side: float) -> float:
    """Mean distance, in keypoint-box sides, between a detection's five landmarks and the same five
    points of the keypoint model's prediction for it (0 for a detection without landmarks)."""
    if face.landmarks is None:
        return 0.0
    return float(np.linalg.norm(face.landmarks - five, axis=-1).mean() / side)


def confirmed(faces: list[Detection], five: np.ndarray, sides: np.ndarray) -> np.ndarray:
    """Which detections the keypoint model agrees are faces (see LANDMARK_AGREEMENT): a bool mask,
    from the predicted five points (F, 5, 2) and keypoint-box sides (F,)."""
    return np.array([disagreement(f, p, s) <= LANDMARK_AGREEMENT for f, p, s in zip(faces, five, sides)], bool)
