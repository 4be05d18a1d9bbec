"""The face embedding: L2-normalised embeddings trained with a margin softmax over the training
people (ArcFace or CosFace; shuffled batches) or FaceNet's triplet loss (semi-hard negatives in
P x K batches); validated on held-out people (verification accuracy and ROC AUC over their pairs).
After training, the distance threshold and an SVM on `--classify-data` people are saved in the
run dir (recognition.json, classifier.pkl) for facekp.recognise."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf

from facekp import aligner, losses, metrics, recognise
from facekp.config import RecognitionConfig
from facekp.data import identities, pipeline
from facekp.data.samples import split_by_group
from facekp.digest import content_digest
from facekp.errors import InputError
from facekp.fileio import atomic_write_bytes, atomic_write_json
from facekp.tasks.faces import FaceTask


def fit_classifier(cfg: RecognitionConfig, run_dir: str, predict_fn: Callable[[np.ndarray], Any]) -> dict[str, Any]:
    """Measure the SVM on --classify-data by stratified cross-validation, then fit it on all of
    the faces; save."""
    faces = identities.load_faces(cfg.classify_data, cfg, aligner=aligner.for_config(cfg)).read()
    embeddings = recognise.face_embeddings(predict_fn, faces.images)
    predicted = recognise.cross_validated_classes(embeddings, faces.labels, cfg.split_seed, cfg.classify_data)
    figures = metrics.classification_metrics(predicted, faces.labels)
    recognise.save_classifier(
        run_dir, recognise.make_classifier(cfg.seed).fit(embeddings, faces.labels), faces.class_names
    )
    print(
        f"classifier: SVM on {len(faces)} faces of {len(faces.class_names)} people from "
        f"{cfg.classify_data}; cross-validated accuracy {figures['accuracy']:.4f}, macro F1 {figures['macro_f1']:.4f}"
    )
    return {"data": cfg.classify_data, "faces": len(faces), **figures}


class EmbeddingTask(FaceTask):
    def prepare(self, cfg: RecognitionConfig, samples: identities.Faces) -> RecognitionConfig:
        """A margin loss has one class centre per person of the data: a resumed run must see the
        same people (their number and a digest of their names), or its centres are others'."""
        cfg = super().prepare(cfg, samples)
        if cfg.embedding_loss == "triplet":
            return cfg
        people, names = len(samples.class_names), content_digest(list(samples.class_names), length=16)
        if cfg.margin_classes and (cfg.margin_classes != people or cfg.margin_people not in ("", names)):
            raise InputError(
                f"{cfg.data}{' (with --extra-data)' if cfg.extra_data else ''}: holds other people than the "
                f"{cfg.margin_classes} this run was trained on ({people} people)"
            )
        return dataclasses.replace(cfg, margin_classes=people, margin_people=names)

    def split_indices(self, cfg: RecognitionConfig, samples: identities.Faces) -> tuple[np.ndarray, np.ndarray]:
        """Validation people apart; triplet training keeps the people with a positive pair (two faces)."""
        train_idx, val_idx = split_by_group(samples.groups, cfg.val_fraction, cfg.split_seed)
        if cfg.embedding_loss == "triplet":
            counts = np.bincount(samples.labels[train_idx])
            train_idx = train_idx[counts[samples.labels[train_idx]] >= 2]
        if not len(train_idx):
            needs = "a person with two or more images" if cfg.embedding_loss == "triplet" else "any face"
            raise InputError(f"{cfg.data}: no training faces left (the training people need {needs})")
        return train_idx, val_idx

    def needs_faces_at_hand(self, cfg: RecognitionConfig) -> bool:
        return cfg.embedding_loss == "triplet"

    def train_batches(self, cfg: RecognitionConfig, samples: identities.Faces, start_step: int) -> tf.data.Dataset:
        """Triplet: P x K batches (cfg.images_per_person faces of each of batch_size / K people);
        margin losses: uniformly shuffled faces."""
        per_person = cfg.images_per_person if cfg.embedding_loss == "triplet" else None
        return pipeline.face_dataset(samples, cfg, start_step, per_person=per_person)

    def loss_fn(self, cfg: RecognitionConfig) -> Callable[[tf.Tensor, dict[str, tf.Tensor]], tf.Tensor]:
        """Triplet loss on the embeddings, or the margin softmax on the cosines the training model
        appends to them (models.recognition.ClassCentres)."""
        if cfg.embedding_loss == "triplet":
            return lambda embeddings, batch: losses.triplet_semihard(embeddings, batch["label"], cfg.triplet_margin)
        return lambda outputs, batch: losses.margin_softmax(
            outputs[:, cfg.embedding_dim :], batch["label"], cfg.embedding_loss, cfg.softmax_scale, cfg.softmax_margin
        )

    def evaluate(self, predictions: np.ndarray, arrays: dict[str, np.ndarray]) -> dict[str, float]:
        results = metrics.embedding_verification(predictions, arrays["label"])
        results.pop("threshold")
        return results

    def after_training(
        self, cfg: RecognitionConfig, run_dir: str, predict_fn: Callable[[np.ndarray], Any], val: dict[str, np.ndarray]
    ) -> dict[str, Any]:
        """Save the verification threshold (from the validation people) and the --classify-data SVM."""
        summary = {}
        if len(val["label"]):
            summary["validation_people"] = metrics.embedding_verification(
                recognise.face_embeddings(predict_fn, val["image"]), val["label"]
            )
            summary["threshold"] = summary["validation_people"]["threshold"]
        if cfg.classify_data:
            summary["classifier"] = fit_classifier(cfg, run_dir, predict_fn)
        if summary:
            atomic_write_json(os.path.join(run_dir, recognise.RESULTS_FILE), summary)
        if not cfg.members:  # an ensemble writes its members' people together (ensemble.make_ensemble)
            people = "".join(f"{name}\n" for name in sorted(identities.trained_people(cfg)))
            atomic_write_bytes(os.path.join(run_dir, identities.TRAINED_PEOPLE_FILE), people.encode())
        return summary

    def after_training_done(self, cfg: RecognitionConfig, run_dir: str) -> bool:
        """recognition.json is there, with the SVM of this --classify-data if one is asked for
        (another --classify-data refits it)."""
        try:
            saved = recognise.load_results(run_dir)
        except (OSError, ValueError):
            return False
        return bool(saved) and (not cfg.classify_data or saved.get("classifier", {}).get("data") == cfg.classify_data)
