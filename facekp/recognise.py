"""Using a trained recognition run: faces cut around their keypoints, embeddings, the saved
classifier and threshold, and a gallery of enrolled people.

    recogniser = Recogniser("runs/emb")
    face = face_from_keypoints(image, points68, recogniser.cfg.input_size)
    gallery = Gallery(recogniser.outputs(faces), people, recogniser.threshold())
"""

from __future__ import annotations

import functools
import io
import json
import os
import pickle
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.svm import SVC

from facekp.align import aligned_faces
from facekp.aligner import Aligner
from facekp.aligner import for_config as aligner_for
from facekp.checkpoints import load_run
from facekp import config as config_lib
from facekp.config import RecognitionConfig
from facekp.data import identities, images
from facekp.detect import as_channels
from facekp.data.geometry import crop_map, face_boxes
from facekp.errors import InputError
from facekp.fileio import atomic_write_bytes
from facekp.inference import compiled_predict, predict_in_batches
from facekp.opencv import cv2

RESULTS_FILE = "recognition.json"  # threshold and classifier figures of an embedding run
CLASSIFIER_FILE = "classifier.pkl"  # scikit-learn pipeline + class names
UNKNOWN = "unknown"  # a face's name when it is nobody enrolled
CLASSIFIER_FOLDS = 5  # folds of the cross-validation that measures the classifier

# Where the LFW 2017 face box sits around a face's 68 keypoints (measured with the shipped
# keypoint model on 200 LFW photos, medians): centre 0.12 keypoint-box sides above the keypoint
# box's centre, 0.95 sides wide and 1.26 sides tall. Faces cut this way match training faces.
FACE_BOX_DY, FACE_BOX_WIDTH, FACE_BOX_HEIGHT = -0.12, 0.95, 1.26


def embed(predict_fn: Callable[[np.ndarray], Any], faces: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Model outputs for (N, S, S, C) faces (uint8 0..255 or float 0..1) through a compiled predict fn."""
    if faces.dtype == np.uint8:
        faces = faces.astype(np.float32) / 255.0
    return predict_in_batches(predict_fn, faces, batch_size)


def face_embeddings(predict_fn: Callable[[np.ndarray], Any], faces: np.ndarray) -> np.ndarray:
    """Embeddings as every trained embedding is used: the face's plus its mirror image's,
    renormalised (a face and its mirror are one person; training mirrors faces too)."""
    both = embed(predict_fn, faces) + embed(predict_fn, np.ascontiguousarray(faces[:, :, ::-1]))
    return both / np.maximum(np.linalg.norm(both, axis=1, keepdims=True), 1e-12)


def make_classifier(seed: int = 0) -> Pipeline:
    """An SVM with an RBF kernel (C 10) and balanced class weights (scikit-learn) on the unit-length
    embeddings as they are: on the shipped embedding's LFW 2017 faces, 5-fold cross-validated
    macro F1 0.979 against 0.975 with standardised embeddings and 0.970 with a linear kernel."""
    return make_pipeline(SVC(kernel="rbf", C=10.0, class_weight="balanced", random_state=seed))


def classifier_folds(labels: np.ndarray, source: str = "the classifier's faces") -> int:
    """The folds of the classifier's cross-validation: k = 5, or the largest class's size if
    smaller; one line naming `source` when no person has two faces."""
    folds = min(CLASSIFIER_FOLDS, int(np.bincount(labels).max())) if len(labels) else 0
    if folds < 2:
        raise InputError(f"{source}: at least one person needs two or more faces to measure the classifier")
    return folds


def cross_validated_classes(
    embeddings: np.ndarray, labels: np.ndarray, seed: int = 0, source: str = "the classifier's faces"
) -> np.ndarray:
    """Every face's class as predicted by a classifier fitted without it (stratified k-fold over
    the faces, k = 5, or the largest class's size if smaller): every face is judged once, so
    the figure does not hang on which few faces a single split holds out. `source` names the
    faces in the error when no person has two."""
    splits = StratifiedKFold(classifier_folds(labels, source), shuffle=True, random_state=seed)
    return cross_val_predict(make_classifier(seed), embeddings, labels, cv=splits)


def save_classifier(run_dir: str, classifier: Pipeline, class_names: Sequence[str]) -> None:
    buffer = io.BytesIO()
    pickle.dump({"classifier": classifier, "class_names": list(class_names)}, buffer)
    atomic_write_bytes(os.path.join(run_dir, CLASSIFIER_FILE), buffer.getvalue())


def load_classifier(run_dir: str) -> dict:
    path = os.path.join(run_dir, CLASSIFIER_FILE)
    if not os.path.isfile(path):
        raise InputError(f"{run_dir}: no {CLASSIFIER_FILE} (train with --classify-data DIR)")
    with open(path, "rb") as f:
        return pickle.load(f)


def load_results(run_dir: str) -> dict:
    path = os.path.join(run_dir, RESULTS_FILE)
    if not os.path.isfile(path):
        return {}
    with open(path) as f:
        return json.load(f)


def face_from_keypoints(image: np.ndarray, points: np.ndarray, size: int) -> np.ndarray:
    """The recognition face (size, size, C) uint8 cut from an (H, W, C) image (uint8 or float)
    around 68 keypoints; only the window under the face is read."""
    centers, sides = face_boxes(points[None])
    (cx, cy), side = centers[0], float(sides[0])
    width, height = FACE_BOX_WIDTH * side, FACE_BOX_HEIGHT * side
    cy += FACE_BOX_DY * side
    face = images.warp_window(image, crop_map((cx, cy), width, height, size), (size, size), cv2.INTER_AREA)
    return np.clip(np.rint(face), 0, 255).astype(np.uint8)


class Recogniser:
    """A trained identity or embedding run: its faces (cut as it was trained: aligned by keypoints,
    or a fixed crop), outputs for them, classes, the verification threshold."""

    def __init__(self, run_dir: str):
        self.run_dir = run_dir
        cfg = config_lib.load(run_dir)  # the task is checked before any weights are read
        if not isinstance(cfg, RecognitionConfig):
            raise InputError(f"{run_dir}: trained for {cfg.task}, not recognition (needs an identity or embedding run)")
        self.cfg, self.model = load_run(run_dir)
        self._predict = compiled_predict(self.model)

    @functools.cached_property
    def aligner(self) -> Aligner | None:
        """The keypoint aligner of a run trained on aligned faces (loaded on first use)."""
        return aligner_for(self.cfg)

    def faces_of_files(self, paths: Sequence[str]) -> np.ndarray:
        """(N, S, S, C) faces of one-face image files, as this run's training read its faces."""
        cfg = self.cfg
        return identities.read_faces(paths, cfg.input_size, cfg.channels, cfg.face_crop, self.aligner)

    def faces_at_keypoints(self, rgb: np.ndarray, points68: np.ndarray) -> np.ndarray:
        """(F, S, S, C) faces of an (H, W, 3) RGB image at their (F, 68, 2) keypoints. Aligned runs
        have their own aligning model find the keypoints again, started from these (whichever model
        found them, and however predict.py refined them): the faces are then cut as its training
        faces were."""
        image, size = as_channels(rgb, self.cfg.channels), self.cfg.input_size
        if self.cfg.face_crop == "aligned":
            if np.shape(points68)[1:] != (68, 2):
                raise InputError(f"{self.run_dir}: aligns faces by 68 keypoints; give a 68-point keypoint run")
            centers, sides = face_boxes(points68)
            starts = [(x, y, side) for (x, y), side in zip(centers, sides)]
            gray = as_channels(rgb, 1)  # one copy of the photo for all its faces
            points68 = self.aligner.keypoints([gray] * len(starts), starts)
            return aligned_faces(image, points68, size, self.cfg.face_scale)
        return np.stack([face_from_keypoints(image, points, size) for points in points68])

    def outputs(self, faces: np.ndarray) -> np.ndarray:
        """Logits (identity runs) or embeddings (embedding runs) of (N, S, S, C) faces."""
        return (face_embeddings if self.cfg.task == "embedding" else embed)(self._predict, faces)

    def classify(self, faces: np.ndarray) -> tuple[np.ndarray, list]:
        """(class indices, class names): the identity head, or the embedding run's SVM."""
        if self.cfg.task == "identity":
            return np.argmax(self.outputs(faces), axis=1), list(self.cfg.class_names)
        saved = load_classifier(self.run_dir)
        return saved["classifier"].predict(self.outputs(faces)), list(saved["class_names"])

    def threshold(self) -> float | None:
        return load_results(self.run_dir).get("threshold")


class Gallery:
    """Embeddings of enrolled people; a face is the nearest person, or unknown beyond the threshold."""

    def __init__(self, embeddings, people, threshold: float):
        self.embeddings, self.people, self.threshold = np.asarray(embeddings), list(people), threshold

    def identify(self, embeddings: np.ndarray) -> list[tuple[str, float]]:
        """[(person or 'unknown', distance to that person's nearest enrolled face)] per embedding."""
        out = []
        for e in np.atleast_2d(embeddings):
            distances = np.linalg.norm(self.embeddings - e, axis=1)
            best = int(np.argmin(distances))
            name = self.people[best] if distances[best] <= self.threshold else UNKNOWN
            out.append((name, float(distances[best])))
        return out
