"""What the two recognition tasks share: faces read from LFW-style folders or the LFW 2017 arrays."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from facekp import aligner, recognise
from facekp.config import RecognitionConfig
from facekp.data import identities, shards
from facekp.errors import InputError


def face_arrays(faces: identities.Faces) -> dict[str, np.ndarray]:
    return {"image": faces.images.astype(np.float32) / 255.0, "label": faces.labels}


@dataclass(frozen=True)
class FaceTask:
    """Base of the identity and embedding tasks: reading faces, validation arrays, no pictures."""

    name: str
    data_subdir: str
    best_metric: str
    config_class: type = RecognitionConfig
    higher_is_better: bool = True

    def load_samples(self, cfg: RecognitionConfig) -> identities.Faces:
        self.check_classify_data(cfg)
        faces = self.all_faces(cfg)
        size = cfg.input_size**2 * cfg.channels
        if self.needs_faces_at_hand(cfg) or shards.choose(cfg, len(faces), size) == "memory":
            return faces.read()
        return faces  # read a chunk at a time into the disk cache (split)

    def check_classify_data(self, cfg: RecognitionConfig) -> None:
        """--classify-data is used after training (or by an ensemble after its validation faces):
        found missing, or without a person of two faces, now, not after the work."""
        if cfg.classify_data:
            try:
                recognise.classifier_folds(identities.load_faces(cfg.classify_data, cfg).labels, cfg.classify_data)
            except InputError as e:
                raise InputError(f"--classify-data: {e}")

    def all_faces(self, cfg: RecognitionConfig) -> identities.Faces:
        """The faces of --data and --extra-data, --exclude-people's left out; those of image files
        not read yet."""
        exclude = identities.read_exclusions(cfg.exclude_people)
        align = aligner.for_config(cfg)
        faces = identities.load_faces(cfg.data, cfg, exclude, align)
        for folder in cfg.extra_folders:
            try:
                more = identities.load_faces(folder, cfg, exclude, align)
            except InputError as e:
                raise InputError(f"--extra-data: {e}")
            print(f"extra data: {len(more)} faces of {len(more.class_names)} people from {folder}")
            faces = identities.merged(faces, more)
        if exclude:
            print(f"excluded people: {len(exclude)} names (--exclude-people)")
        return faces

    def validation_faces(self, cfg: RecognitionConfig) -> identities.Faces:
        """The validation faces of cfg's split, read; the training faces are not."""
        faces = self.all_faces(cfg)
        _, val_idx = self.split_indices(cfg, faces)
        return faces.subset(val_idx).read()

    def split(self, cfg: RecognitionConfig, samples: identities.Faces) -> tuple[identities.Faces, identities.Faces]:
        return self.cached_split(cfg, samples, *self.split_indices(cfg, samples))

    def split_indices(self, cfg: RecognitionConfig, samples: identities.Faces) -> tuple[np.ndarray, np.ndarray]:
        """(training, validation) indices of `samples`."""
        raise NotImplementedError

    def needs_faces_at_hand(self, cfg: RecognitionConfig) -> bool:
        """Whether training draws faces in an order the disk cache cannot stream (triplet's P x K)."""
        return False

    def cached_split(
        self, cfg: RecognitionConfig, samples: identities.Faces, train_idx: np.ndarray, val_idx: np.ndarray
    ) -> tuple[identities.Faces, identities.Faces]:
        """(training, validation) faces; the training faces go to the disk cache when chosen (written
        here, so a bad image stops the run before its directory exists), the validation faces are read."""
        val = samples.subset(val_idx).read()  # a bad validation face stops the run before the cache
        train = samples.subset(train_idx)
        if not self.needs_faces_at_hand(cfg) and (
            cfg.cache == "disk" or isinstance(train.images, identities.FaceFiles)
        ):
            train = shards.cached_faces(train, cfg, self.name)
        return train, val

    def prepare(self, cfg: RecognitionConfig, samples: identities.Faces) -> RecognitionConfig:
        """Record which keypoint model aligned the faces (loading the run later checks it)."""
        return dataclasses.replace(cfg, aligned_by=aligner.shipped_model()) if cfg.face_crop == "aligned" else cfg

    def val_arrays(self, cfg: RecognitionConfig, samples: identities.Faces) -> dict[str, np.ndarray]:
        return face_arrays(samples)

    def summary_images(self, predictions: np.ndarray, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {}

    def after_training(
        self, cfg: RecognitionConfig, run_dir: str, predict_fn: Callable[[np.ndarray], Any], val: dict[str, np.ndarray]
    ) -> dict[str, Any]:
        return {}

    def after_training_done(self, cfg: RecognitionConfig, run_dir: str) -> bool:
        return True
