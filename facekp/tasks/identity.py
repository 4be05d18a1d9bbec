"""The identity classifier: logits over the training data's people; cross-entropy with class
weights; validated on a stratified split of every person's images (accuracy, macro F1)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import tensorflow as tf

from facekp import losses, metrics
from facekp.config import RecognitionConfig
from facekp.data import identities, pipeline
from facekp.data.samples import stratified_split
from facekp.errors import InputError
from facekp.tasks.faces import FaceTask


def inverse_frequency_weights(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Per-class loss weights N / (C * count): every class weighs the same in total."""
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    present = counts > 0
    weights = np.zeros(num_classes)
    weights[present] = len(labels) / (present.sum() * counts[present])
    return weights


class IdentityTask(FaceTask):
    def prepare(self, cfg: RecognitionConfig, samples: identities.Faces) -> RecognitionConfig:
        """Record the people in the config (the model's classes); a resumed run must see the same."""
        names = list(samples.class_names)
        if cfg.class_names and list(cfg.class_names) != names:
            raise InputError(
                f"{cfg.data}: holds other people than this run was trained on "
                f"({len(names)} vs {len(cfg.class_names)} classes)"
            )
        return dataclasses.replace(super().prepare(cfg, samples), class_names=names)

    def split_indices(self, cfg: RecognitionConfig, samples: identities.Faces) -> tuple[np.ndarray, np.ndarray]:
        return stratified_split(samples.labels, cfg.val_fraction, cfg.split_seed)

    def train_batches(self, cfg: RecognitionConfig, samples: identities.Faces, start_step: int) -> tf.data.Dataset:
        """Shuffled batches; each face weighted by its class's inverse frequency (--class-weighting)."""
        weights = inverse_frequency_weights(samples.labels, len(samples.class_names)) if cfg.class_weighting else None
        return pipeline.face_dataset(samples, cfg, start_step, weights=weights)

    def loss_fn(self, cfg: RecognitionConfig) -> Callable[[tf.Tensor, dict[str, tf.Tensor]], tf.Tensor]:
        return lambda logits, batch: losses.class_weighted_cross_entropy(
            logits, batch["label"], batch["weight"], cfg.label_smoothing
        )

    def evaluate(self, predictions: np.ndarray, arrays: dict[str, np.ndarray]) -> dict[str, float]:
        return metrics.classification_metrics(np.argmax(predictions, axis=1), arrays["label"])
