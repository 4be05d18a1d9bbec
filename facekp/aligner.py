"""Recognition faces aligned by our own keypoint model (facekp/shipped/aligner68): each image's 68
keypoints, found from the start box its framing gives (LFW photos, the LFW 2017 arrays) or from
its largest MTCNN detection (any other photo), then `align.aligned_face`.

    aligner = Aligner(size=64, channels=1)              # the shipped aligning model
    faces = aligner(images, starts)                     # starts: keypoint boxes, or None: detect
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

from facekp import align, detect
from facekp.detect import as_channels
from facekp.config import SHIPPED_ALIGNER, RecognitionConfig
from facekp.checkpoints import load_run
from facekp.digest import weights_digest
from facekp.errors import InputError
from facekp.inference import Predictor

# Keypoint passes after the first from a framing's start box: on 300 LFW photos the points then lie
# 0.3% of a face box (mean) from those started at MTCNN's detection, none beyond 5%. Every pass at
# the model's margin, and the faces cut at the last pass's points (not predict.py's tighter passes
# and their mean), as they were when the shipped recognition runs trained.
REFINE = 2


def detected_start(rgb: np.ndarray) -> tuple[float, float, float]:
    """The keypoint box of the largest MTCNN face of an RGB image, else a box of half the image's
    shorter side at its centre."""
    faces = detect.detector("mtcnn")(rgb)
    if faces:
        largest = max(faces, key=lambda face: face.box[2] * face.box[3])
        return detect.start_box(largest)
    h, w = rgb.shape[:2]
    return (w - 1) / 2.0, (h - 1) / 2.0, min(h, w) / 2.0


class Aligner:
    """Aligned (size, size, channels) uint8 faces of one-face images, by the keypoint model."""

    def __init__(self, size: int, channels: int, predictor: Predictor | None = None, scale: float = 1.0):
        self.size, self.channels, self.scale = size, channels, scale
        self.predictor = predictor or Predictor.from_run(SHIPPED_ALIGNER)

    def keypoints(self, images: Sequence[np.ndarray], starts: Sequence[tuple | None]) -> np.ndarray:
        """(N, 68, 2) keypoints of uint8 images, each searched from its start keypoint box (None:
        found by detection); all images in one batch per pass."""
        boxes = [start or detected_start(as_channels(image, 3)) for image, start in zip(images, starts, strict=True)]
        gray = [as_channels(image, 1) for image in images]
        return self.predictor.predict_each(gray, boxes, REFINE, plain_refinement=True)

    def __call__(self, images: Sequence[np.ndarray], starts: Sequence[tuple | None]) -> np.ndarray:
        points = self.keypoints(images, starts)
        faces = [
            align.aligned_faces(as_channels(i, self.channels), p[None], self.size, self.scale)
            for i, p in zip(images, points, strict=True)
        ]
        return np.concatenate(faces) if faces else np.zeros((0, self.size, self.size, self.channels), np.uint8)


def for_config(cfg: RecognitionConfig) -> Aligner | None:
    """The aligner of a recognition config reading aligned faces (face_crop "aligned"), else None.
    A run that recorded which keypoint model aligned its faces gets that model or an error: faces
    aligned by other keypoints would be embedded differently from its training faces."""
    if cfg.face_crop != "aligned":
        return None
    if cfg.aligned_by:
        check_keypoint_model(cfg, shipped_model(), SHIPPED_ALIGNER)
    return Aligner(cfg.input_size, cfg.channels, scale=cfg.face_scale)


def check_keypoint_model(cfg: RecognitionConfig, digest: str, model_name: str) -> None:
    """Refuse to align a run's faces by a keypoint model (weights `digest`) other than the one that
    aligned its training faces: they would be embedded unlike its training faces."""
    if cfg.face_crop == "aligned" and cfg.aligned_by and cfg.aligned_by != digest:
        raise InputError(
            f"{model_name}: its weights ({digest}) are not those of the keypoint model that aligned the "
            f"recognition run's training faces ({cfg.aligned_by}); align with that model, or train the run again"
        )


@functools.cache
def shipped_model() -> str:
    """A digest of the shipped aligning model's weights: what aligns faces (runs record it)."""
    return weights_digest(load_run(SHIPPED_ALIGNER)[1])
