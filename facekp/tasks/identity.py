"""The identity classifier: logits over the training data's people; cross-entropy with class
weights; validated on a stratified split of every person's images (accuracy, macro F1)."""

import dataclasses

import numpy as np

from facekp import losses, metrics
from facekp.data import pipeline
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
    def prepare(self, cfg, samples):
        """Record the people in the config (the model's classes); a resumed run must see the same."""
        names = list(samples.class_names)
        if cfg.class_names and list(cfg.class_names) != names:
            raise InputError(
                f"{cfg.data}: holds other people than this run was trained on "
                f"({len(names)} vs {len(cfg.class_names)} classes)"
            )
        return dataclasses.replace(cfg, class_names=names)

    def split(self, cfg, samples):
        train_idx, val_idx = stratified_split(samples.labels, cfg.val_fraction, cfg.split_seed)
        return samples.subset(train_idx), samples.subset(val_idx)

    def train_batches(self, cfg, samples, start_step):
        """Shuffled batches; each face weighted by its class's inverse frequency (--class-weighting)."""
        weights = inverse_frequency_weights(samples.labels, len(samples.class_names)) if cfg.class_weighting else None
        return pipeline.face_dataset(samples, cfg, start_step, weights=weights)

    def loss_fn(self, cfg):
        return lambda logits, batch: losses.class_weighted_cross_entropy(
            logits, batch["label"], batch["weight"], cfg.label_smoothing
        )

    def evaluate(self, predictions, arrays):
        return metrics.classification_metrics(np.argmax(predictions, axis=1), arrays["label"])
