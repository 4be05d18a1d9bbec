"""Load a trained keypoint model from a run directory and predict keypoints for face crops.

    predictor = Predictor.from_run("runs/kp68")
    points = predictor.predict(crops)      # (N, S, S, C) images in [0, 1] -> (N, K, 2) input pixels

Inference runs through TFLite (XNNPACK) by default, converted in memory when the model loads;
`engine="tf"` runs the Keras model under tf.function instead (same points, slower per face).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Callable

import keras
import numpy as np
import tensorflow as tf

from facekp import config as config_lib
from facekp.checkpoints import load_run
from facekp.data import images as image_ops
from facekp.data.geometry import face_boxes, image_to_crop
from facekp.digest import weights_digest
from facekp.errors import InputError
from facekp.schemes import scheme_of
from facekp.tflite import TFLiteModel

ENGINES = ("tflite", "tf")
MAX_REFINE, MAX_THREADS = 8, 256  # the most refinement passes and inference threads taken (more only wastes time)


def predict_in_batches(predict_fn: Callable, images: np.ndarray, batch_size: int = 128) -> np.ndarray:
    """Run a predict function (a compiled tf.function or a TFLiteModel) over a non-empty numpy
    image array (or a strided view) in batches."""
    return np.concatenate(
        [
            np.asarray(predict_fn(np.ascontiguousarray(images[i : i + batch_size])))
            for i in range(0, len(images), batch_size)
        ]
    )


def mirror_calibration(cfg, model: keras.Model) -> str:
    """What mirror offsets measured now are measured with: the weights, refinement margin and input size."""
    return f"weights {weights_digest(model)}, refine margin {cfg.refinement_margin:g}, {cfg.input_size} px"


def mirrored_pass_error(predictor: Predictor, image: np.ndarray, box: np.ndarray, true: np.ndarray) -> np.ndarray:
    """The truth (K, 2) minus the points of a face's mirrored refinement pass (from the box (3,)),
    in refinement-crop pixels: what calibrate_mirror averages into mirror_offsets, which
    Predictor adds back to that pass's points."""
    cfg = predictor.cfg
    center, side = face_boxes(predictor.predict_faces(image, box, refine=0))
    crop, (A, t) = image_ops.crop_with_map_fast(image, center[0], side[0] * cfg.refinement_margin, cfg.input_size)
    return image_to_crop(true, A[0], t[0]) - predictor.predict_mirrored(crop[None] / 255.0)[0]


def compiled_predict(model: keras.Model) -> Callable:
    """The model in inference mode as a tf.function that any batch size reuses."""
    return tf.function(lambda images: model(images, training=False), reduce_retracing=True)


def head_index(cfg, convention: str | None) -> int:
    """Which of a keypoint model's heads gives points in `convention` (None: its first)."""
    heads = getattr(cfg, "head_conventions", ("youtube",))
    if convention is None:
        return 0
    if convention not in heads:
        raise InputError(f"convention: this model's points follow {' and '.join(heads)}, not {convention}")
    return heads.index(convention)


class Predictor:
    def __init__(self, cfg, model, engine="tflite", threads=None, convention=None):
        if engine not in ENGINES:
            raise InputError(f"engine: unknown '{engine}' ({' | '.join(ENGINES)})")
        self.cfg, self.model, self.engine = cfg, model, engine
        self.scheme = scheme_of(cfg.task)
        self.head = head_index(cfg, convention)
        self.convention = getattr(cfg, "head_conventions", ("youtube",))[self.head]
        self.mirror_offsets = self._mirror_offsets() if self.head == 0 else None
        self._predict = TFLiteModel(model, threads) if engine == "tflite" else compiled_predict(model)

    def _mirror_offsets(self) -> np.ndarray | None:
        """cfg.mirror_offsets as (K, 2) when they were measured for these weights, this refinement
        margin and input size (cfg.mirror_calibrated_for); else None, said once on stderr."""
        cfg = self.cfg
        if not cfg.mirror_offsets:
            return None
        problem = config_lib.mirror_offsets_problem(cfg)
        if problem:
            raise InputError(f"mirror_offsets: {problem}")
        now = mirror_calibration(cfg, self.model)
        if cfg.mirror_calibrated_for != now:
            print(
                f"warning: mirror_offsets were measured for {cfg.mirror_calibrated_for or 'unknown weights'}, not "
                f"{now}; the mirrored refinement pass is off until "
                "benchmarks/calibrate_mirror.py --write measures them again",
                file=sys.stderr,
            )
            return None
        return np.reshape(np.asarray(cfg.mirror_offsets, np.float32), (-1, 2))

    @classmethod
    def shipped(cls, engine: str = "tflite", threads: int | None = None, convention: str | None = None) -> Predictor:
        """The 68-point model that ships in facekp/shipped/keypoints68."""
        return cls.from_run(config_lib.SHIPPED_KEYPOINTS, engine, threads, convention)

    @classmethod
    def from_run(
        cls, run_dir: str, engine: str = "tflite", threads: int | None = None, convention: str | None = None
    ) -> Predictor:
        """Rebuild the model from config.json and restore the best (else latest) checkpoint;
        `convention`: which head's points (a model with one per labelling convention; None: its first)."""
        cfg = config_lib.load(run_dir)  # the task is checked before any weights are read
        if not isinstance(cfg, config_lib.KeypointConfig):
            raise InputError(f"{run_dir}: trained for {cfg.task}, not keypoints (needs a keypoints68 or kaggle15 run)")
        head_index(cfg, convention)  # an unknown convention is refused before the weights load
        cfg, model = load_run(run_dir)
        return cls(cfg, model, engine, threads, convention)

    def predict(self, images: np.ndarray, batch_size: int = 64, flip_tta: bool = False) -> np.ndarray:
        """Keypoints (N, K, 2) in input pixels for (N, S, S, C) float images in [0, 1].

        flip_tta: also predict the mirrored images, mirror those points back (x -> S-1-x, left and
        right relabelled) and average the two.
        """
        images = np.asarray(images, np.float32)
        if not len(images):  # no batch to run (a Keras model under oneDNN rejects an empty one)
            return np.zeros((0, self.scheme.num_points, 2), np.float32)
        k = self.scheme.num_points
        points = predict_in_batches(self._predict, images, batch_size)[:, self.head * k : (self.head + 1) * k]
        if flip_tta:
            points = (points + self.predict_mirrored(images, batch_size)) / 2.0
        return points

    def predict_mirrored(self, images: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """predict() of the mirrored images, mirrored back (x -> S-1-x, left and right relabelled)."""
        images = np.asarray(images, np.float32)
        mirrored = self.predict(images[:, :, ::-1], batch_size)[:, list(self.scheme.flip_perm)]
        mirrored[..., 0] = images.shape[2] - 1 - mirrored[..., 0]
        return mirrored

    def predict_faces(self, image: np.ndarray, boxes: np.ndarray | list, refine: int = 1) -> np.ndarray:
        """Keypoints (F, K, 2) in pixels of `image` ((H,W,C) uint8 or float 0..255) for face boxes
        (F, 3); each crop reads only the window of the image under it.

        A box is a keypoint box (centre x, centre y, side); the crop is that side times the
        model's margin. Each face is then re-cropped `refine` times around its own prediction (the
        side times cfg.refine_margin, tighter: the model's own box fits better than a detector's),
        and its keypoints are the mean of all passes' (crops placed a little differently err a
        little differently; README, "Refinement"). A model with cfg.mirror_offsets runs every
        other refinement pass on the mirrored crop, its points moved by those offsets (its errors
        differ more). Every pass predicts all faces of the image as one batch.
        """
        boxes = np.asarray(boxes, np.float32).reshape(-1, 3)
        return self.predict_each([image] * len(boxes), boxes, refine)

    def predict_each(
        self, images: Sequence[np.ndarray], boxes: np.ndarray | list, refine: int = 1, plain_refinement: bool = False
    ) -> np.ndarray:
        """predict_faces for one face box (F, 3) in each of F images (of any sizes): all in one
        batch per pass, as recognition reads whole folders of one-face photos. `plain_refinement`:
        every pass at the model's margin, none mirrored, and the last pass's keypoints, as
        recognition faces were cut when the shipped recognition runs trained."""
        boxes = np.asarray(boxes, np.float32).reshape(-1, 3)
        if not len(boxes):
            return np.zeros((0, self.scheme.num_points, 2), np.float32)
        refine_margin = self.cfg.margin if plain_refinement else self.cfg.refinement_margin
        offsets = None if plain_refinement else self.mirror_offsets
        centers, sides, total = boxes[:, :2], boxes[:, 2], 0.0
        for k, margin in enumerate([self.cfg.margin] + [refine_margin] * refine):
            cropped = [
                image_ops.crop_with_map_fast(image, c, s * margin, self.cfg.input_size)
                for image, c, s in zip(images, centers, sides)
            ]
            crops = np.stack([crop for crop, _ in cropped]) / 255.0
            points = self.predict(crops) if offsets is None or k % 2 == 0 else self.predict_mirrored(crops) + offsets
            points = np.stack([p @ A[0].T + t[0] for p, (_, (A, t)) in zip(points, cropped)])  # crop -> image
            centers, sides = face_boxes(points)
            total = total + points
        return (points if plain_refinement else total / (refine + 1)).astype(np.float32)
