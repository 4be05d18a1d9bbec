"""The one-call API: every face of a photo with its 68 keypoints, and who it is.

    import facekp
    for face in facekp.face_landmarks("photo.jpg"):   # a path, an RGB numpy array or a PIL image
        print(face.box, face.score, face.points.shape)   # (x, y, w, h), confidence, (68, 2)
    a, b = facekp.face_embeddings("a.jpg")[0], facekp.face_embeddings("b.jpg")[0]
    facekp.same_person(a, b)                             # distance within the model's threshold

The shipped models (facekp/shipped/keypoints68, facekp/shipped/face_embedding) and the default detector (MTCNN),
each loaded once on first use and then reused; `run=` names another keypoint run,
`embedding_run=` another embedding run, `detector="haar"` the lighter detector. Points are in the
image's pixels (pixel centres at integers), in iBUG-68 order.

Every function may be called from several threads at once, with the results of one thread: each
model loads once (a thread asking for one being loaded waits for it), every thread running at
once gets its own TFLite interpreter, and only what cannot run twice at once waits its turn:
OpenCV's Haar search (its buffers live in the cascades) and the moment a file is decoded (fd 2 is
pointed at a log meanwhile, to catch libjpeg's warnings).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import threading
from collections.abc import Callable
from typing import Any
from dataclasses import dataclass

from facekp.tfenv import quiet_tensorflow

quiet_tensorflow()  # before TensorFlow's first import: no start-up log lines in the user's program

import numpy as np
from PIL import Image, ImageOps

from facekp import detect, photos
from facekp.config import SHIPPED_EMBEDDING, SHIPPED_KEYPOINTS
from facekp.data import images as image_ops
from facekp.errors import InputError
from facekp.inference import MAX_REFINE, Predictor
from facekp.schemes import CONVENTIONS
from facekp.opencv import file_problem
from facekp.recognise import Recogniser


@dataclass(frozen=True)
class Face:
    """One face: its detector box (x, y, w, h) in pixels, the detector's confidence, its
    keypoints (K, 2) in pixels of the image, and (face_embeddings) its unit-length embedding."""

    box: tuple[float, float, float, float]
    score: float
    points: np.ndarray
    embedding: np.ndarray | None = None


def as_rgb(image: str | os.PathLike | np.ndarray | Image.Image) -> np.ndarray:
    """An (H, W, 3) uint8 RGB array from a file path, a PIL image, or a numpy array: (H, W, 3) RGB
    or (H, W, 4) RGBA, (H, W) gray; uint8 or uint16 (scaled), or numbers on the 0-255 scale. Files
    and PIL images are as viewers show them: a photo stored turned (its EXIF orientation, what
    phones write) is turned upright, and points are in the upright image's pixels."""
    if isinstance(image, (str, os.PathLike)):
        path = os.fspath(image)
        problem = file_problem(path)
        if problem:
            raise InputError(f"{path}: {problem}")
        return photos.read_image(path)
    if isinstance(image, Image.Image) and image_ops.orientation_of(image) != 1:
        image = ImageOps.exif_transpose(image)  # as viewers show it (a photo opened from a phone's file)
    if isinstance(image, Image.Image) and image.mode.startswith("I;16"):
        image = np.asarray(image).astype(np.uint16)  # PIL's RGB conversion would saturate it
    elif isinstance(image, Image.Image):
        return np.asarray(image.convert("RGB"))
    if not isinstance(image, np.ndarray):
        raise TypeError(f"image: a path, a numpy array or a PIL image, not {type(image).__name__}")
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    if image.ndim != 3 or image.shape[-1] not in (3, 4) or not min(image.shape[:2]):
        raise ValueError(f"image: expected (H, W, 3) RGB, (H, W, 4) RGBA or (H, W) gray, got shape {image.shape}")
    image = image[..., :3]
    if image.dtype == np.uint16:
        image = (image // 257).astype(np.uint8)  # 16-bit: 65535 -> 255
    if image.dtype != np.uint8:
        image = _on_the_0_255_scale(image)
    return np.ascontiguousarray(image)


def _on_the_0_255_scale(image: np.ndarray) -> np.ndarray:
    """An array of numbers on the 0-255 scale as uint8, or a ValueError saying what it holds instead."""
    if image.dtype == bool or image.dtype.kind not in "iuf":
        raise ValueError(f"image: numbers on the 0-255 scale, got {image.dtype} values")
    if not np.all(np.isfinite(image)):
        raise ValueError("image: holds NaN or infinite values")
    low, high = float(image.min()), float(image.max())
    if low < -0.5 or high > 255.5:
        raise ValueError(f"image: values from {low:g} to {high:g}, expected the 0-255 scale")
    if image.dtype.kind == "f" and 0 < high <= 1.0:
        raise ValueError("image: floats from 0 to 1; multiply by 255 (the 0-255 scale is expected)")
    return np.round(image).astype(np.uint8)


_LOADING = threading.RLock()  # models load one at a time, each once
_HAAR = threading.Lock()  # OpenCV's cascades search one image at a time (their buffers are theirs)


def _loaded_once(maxsize: int) -> Callable[[Callable], Callable]:
    """functools.lru_cache for model loaders, whose lookups and loads hold _LOADING: threads asking
    at once for a model not loaded yet get the one instance, loaded once (lru_cache alone loads it
    in each). A lookup of a loaded model waits only while another model loads."""

    def decorate(load: Callable) -> Callable:
        cached = functools.lru_cache(maxsize=maxsize)(load)

        @functools.wraps(load)
        def loaded(*args, **kwargs):
            with _LOADING:
                return cached(*args, **kwargs)

        loaded.cache_info, loaded.cache_clear = cached.cache_info, cached.cache_clear
        return loaded

    return decorate


def _detections(rgb: np.ndarray, detector: str) -> list[detect.Detection]:
    """photos.detect_in for callers on any thread: the detector loaded once, Haar one search at a time."""
    with _LOADING:
        detect.detector(detector)  # loads it the first time (MTCNN: three networks)
    with _HAAR if detector == "haar" else contextlib.nullcontext():
        return photos.detect_in(rgb, detector)


@_loaded_once(maxsize=8)
def predictor(run: str = SHIPPED_KEYPOINTS, convention: str | None = None) -> Predictor:
    """The keypoint model of a run (the shipped one by default), loaded once and reused;
    `convention`: which head of a model with one per labelling convention (None: its first)."""
    return Predictor.from_run(run, convention=convention)


def face_landmarks(
    image: str | os.PathLike | np.ndarray | Image.Image,
    detector: str = detect.DEFAULT_DETECTOR,
    run: str | None = None,
    refine: int = 1,
    convention: str | None = None,
) -> list[Face]:
    """Every face found in `image` (see `as_rgb`), best detection first, with its keypoints:
    predict.py --detect's path (detection, start box, `refine` re-crops, the keypoint cross-check).
    `convention`: "300w" (300-W's labelling, the shipped model's default) or "youtube" (the
    YouTube-Faces set's), for a model that has both heads."""
    return _landmarks(as_rgb(image), detector, run, refine, convention)


def _landmarks(
    rgb: np.ndarray, detector: str, run: str | None, refine: int = 1, convention: str | None = None
) -> list[Face]:
    if isinstance(refine, bool) or not isinstance(refine, (int, np.integer)) or not 0 <= refine <= MAX_REFINE:
        raise ValueError(f"refine: a whole number from 0 to {MAX_REFINE}, got {refine!r}")
    if run is not None and not isinstance(run, (str, os.PathLike)):
        raise TypeError(f"run: a run directory's path, not {type(run).__name__}")
    if convention is not None and convention not in CONVENTIONS:
        raise ValueError(f"convention: {' or '.join(CONVENTIONS)}, got {convention!r}")
    model = predictor(run or SHIPPED_KEYPOINTS, convention)
    faces = photos.keypoint_faces(rgb, _detections(rgb, detector), model, find_all=True, refine=refine)
    return [Face(tuple(float(v) for v in box), float(score), points) for box, score, points in faces]


@_loaded_once(maxsize=4)
def recogniser(run: str = SHIPPED_EMBEDDING) -> Recogniser:
    """The embedding model of a run (the shipped one by default), loaded once and reused."""
    return Recogniser(run)


def face_embeddings(
    image: str | os.PathLike | np.ndarray | Image.Image,
    detector: str = detect.DEFAULT_DETECTOR,
    run: str | None = None,
    embedding_run: str | None = None,
) -> list[Face]:
    """face_landmarks, each face with its embedding: the face aligned by its keypoints, then
    embedded by the embedding model (predict.py --identify's path)."""
    rgb = as_rgb(image)
    faces = _landmarks(rgb, detector, run)
    if not faces:
        return []
    model = recogniser(embedding_run or SHIPPED_EMBEDDING)
    with _LOADING:
        model.aligner  # an aligned run's aligning model, loaded on first use: once
    embeddings = model.outputs(model.faces_at_keypoints(rgb, np.stack([face.points for face in faces])))
    return [dataclasses.replace(face, embedding=e) for face, e in zip(faces, embeddings)]


def same_person(a: Face | np.ndarray, b: Face | np.ndarray, embedding_run: str | None = None) -> bool:
    """Whether two faces (or embeddings) are one person: their distance is within the embedding
    model's threshold (chosen on its validation people)."""
    first, second = (face.embedding if isinstance(face, Face) else face for face in (a, b))
    if first is None or second is None:
        raise ValueError("same_person: a Face without an embedding (take faces from face_embeddings)")
    model = recogniser(embedding_run or SHIPPED_EMBEDDING)
    if model.cfg.task != "embedding" or model.threshold() is None:
        raise InputError(f"{model.run_dir}: not an embedding run with a threshold (recognition.json)")
    first, second = (_embedding(v, int(model.model.output_shape[-1])) for v in (first, second))
    return bool(np.linalg.norm(first - second) <= model.threshold())


def _embedding(value: Any, dim: int) -> np.ndarray:
    """One face's embedding as a vector of the model's size, finite and of unit length, else a ValueError."""
    try:
        vector = np.asarray(value, np.float64)
    except (TypeError, ValueError):
        vector = None
    if vector is None or vector.shape != (dim,) or not np.all(np.isfinite(vector)):
        shape = getattr(vector, "shape", type(value).__name__)
        raise ValueError(f"same_person: an embedding is one face's {dim} finite numbers, got {shape}")
    if abs(np.linalg.norm(vector) - 1.0) > 1e-3:
        raise ValueError(f"same_person: an embedding has unit length, got {np.linalg.norm(vector):.3g}")
    return vector
