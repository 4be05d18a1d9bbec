"""Recognition tasks for the one training loop: an identity classifier and an embedding network.

identity   logits over the people of the training data; cross-entropy with class weights;
           validated on a stratified split of every person's images (accuracy, macro F1).
embedding  L2-normalised embeddings; triplet loss with semi-hard mining in P x K batches;
           validated on held-out people (verification accuracy and ROC AUC over their pairs).
           After training: the distance threshold, and an SVM on `--classify-data` people,
           are saved in the run dir (recognition.json, classifier.pkl).
"""
import dataclasses
import io
import json
import os
import pickle
from dataclasses import dataclass

import numpy as np

from facekp import losses, metrics
from facekp.config import RecognitionConfig
from facekp.data import identities, pipeline
from facekp.data.samples import split_by_group
from facekp.errors import InputError
from facekp.fileio import atomic_write_bytes, atomic_write_json
from facekp.models import recognition as recognition_models

RESULTS_FILE = "recognition.json"  # threshold and classifier figures of an embedding run
CLASSIFIER_FILE = "classifier.pkl"  # scikit-learn pipeline + class names


def stratified_split(labels, val_fraction, seed):
    """Train/validation indices holding out `val_fraction` of every class (at least one image of
    classes with two or more)."""
    rng = np.random.RandomState(seed)
    val = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        rng.shuffle(members)
        if len(members) >= 2:
            val.extend(members[:max(1, int(round(len(members) * val_fraction)))])
    is_val = np.zeros(len(labels), bool)
    is_val[val] = True
    return np.flatnonzero(~is_val), np.flatnonzero(is_val)


def inverse_frequency_weights(labels, num_classes):
    """Per-class loss weights N / (C * count): every class weighs the same in total."""
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    present = counts > 0
    weights = np.zeros(num_classes)
    weights[present] = len(labels) / (present.sum() * counts[present])
    return weights


def face_arrays(faces):
    return {"image": faces.images.astype(np.float32) / 255.0, "label": faces.labels}


def embed(predict_fn, images, batch_size=256):
    """Model outputs for (N, S, S, C) faces (uint8 0..255 or float 0..1) through a compiled predict fn."""
    from facekp.inference import predict_in_batches
    if images.dtype == np.uint8:
        images = images.astype(np.float32) / 255.0
    return predict_in_batches(predict_fn, images, batch_size)


def face_embeddings(predict_fn, faces):
    """Embeddings as every trained embedding is used: the face's plus its mirror image's,
    renormalised (a face and its mirror are one person; training mirrors faces too)."""
    both = embed(predict_fn, faces) + embed(predict_fn, np.ascontiguousarray(faces[:, :, ::-1]))
    return both / np.maximum(np.linalg.norm(both, axis=1, keepdims=True), 1e-12)


@dataclass(frozen=True)
class RecognitionTask:
    name: str
    data_subdir: str
    best_metric: str
    config_class: type = RecognitionConfig
    higher_is_better: bool = True

    def load_samples(self, cfg):
        exclude = identities.read_exclusions(cfg.exclude_people)
        faces = identities.load_faces(cfg.data, cfg, exclude)
        if exclude:
            print(f"excluded people: {len(exclude)} names (--exclude-people)")
        return faces

    def val_arrays(self, cfg, samples):
        return face_arrays(samples)

    def summary_images(self, predictions, arrays):
        return {}


class IdentityTask(RecognitionTask):
    def prepare(self, cfg, samples):
        """Record the people in the config (the model's classes); a resumed run must see the same."""
        names = list(samples.class_names)
        if cfg.class_names and list(cfg.class_names) != names:
            raise InputError(f"{cfg.data}: holds other people than this run was trained on "
                             f"({len(names)} vs {len(cfg.class_names)} classes)")
        return dataclasses.replace(cfg, class_names=names)

    def split(self, cfg, samples):
        train_idx, val_idx = stratified_split(samples.labels, cfg.val_fraction, cfg.split_seed)
        return samples.subset(train_idx), samples.subset(val_idx)

    def train_batches(self, cfg, samples, start_step):
        """Shuffled batches; each face weighted by its class's inverse frequency (--class-weighting)."""
        weights = inverse_frequency_weights(samples.labels, len(samples.class_names)) if cfg.class_weighting else None
        return pipeline.face_dataset(samples, cfg, start_step, weights=weights)

    def build_model(self, cfg):
        if not cfg.class_names:
            raise InputError("identity run without class names in its config")
        return recognition_models.identity_classifier(cfg, len(cfg.class_names))

    def loss_fn(self, cfg):
        return lambda logits, batch: losses.class_weighted_cross_entropy(
            logits, batch["label"], batch["weight"], cfg.label_smoothing)

    def evaluate(self, predictions, arrays):
        return metrics.classification_metrics(np.argmax(predictions, axis=1), arrays["label"])

    def after_training(self, cfg, run_dir, predict_fn, val):
        return {}


class EmbeddingTask(RecognitionTask):
    def prepare(self, cfg, samples):
        return cfg

    def split(self, cfg, samples):
        train_idx, val_idx = split_by_group(samples.groups, cfg.val_fraction, cfg.split_seed)
        train = samples.subset(train_idx)
        counts = np.bincount(train.labels)
        keep = np.flatnonzero(counts[train.labels] >= 2)  # a person needs a positive pair
        if not len(keep):
            raise InputError(f"{cfg.data}: no training person has two or more images")
        return train.subset(keep), samples.subset(val_idx)

    def train_batches(self, cfg, samples, start_step):
        """P x K batches: cfg.images_per_person faces of each of batch_size / K people."""
        return pipeline.face_dataset(samples, cfg, start_step, per_person=cfg.images_per_person)

    def build_model(self, cfg):
        return recognition_models.embedding_network(cfg)

    def loss_fn(self, cfg):
        return lambda embeddings, batch: losses.triplet_semihard(embeddings, batch["label"], cfg.triplet_margin)

    def evaluate(self, predictions, arrays):
        results = metrics.embedding_verification(predictions, arrays["label"])
        results.pop("threshold")
        return results

    def after_training(self, cfg, run_dir, predict_fn, val):
        """Save the verification threshold (from the validation people) and the --classify-data SVM."""
        summary = {}
        if len(val["label"]):
            summary["validation_people"] = metrics.embedding_verification(
                face_embeddings(predict_fn, val["image"]), val["label"])
            summary["threshold"] = summary["validation_people"]["threshold"]
        if cfg.classify_data:
            summary["classifier"] = fit_classifier(cfg, run_dir, predict_fn)
        if summary:
            atomic_write_json(os.path.join(run_dir, RESULTS_FILE), summary)
        return summary


def make_classifier(seed=0):
    """Standardised embeddings -> linear SVM with balanced class weights (scikit-learn)."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC
    return make_pipeline(StandardScaler(), SVC(kernel="linear", C=1.0, class_weight="balanced",
                                               random_state=seed))


def fit_classifier(cfg, run_dir, predict_fn):
    """Fit the SVM on a stratified split of --classify-data to measure it, then on all of it; save."""
    faces = identities.load_faces(cfg.classify_data, cfg)
    embeddings = face_embeddings(predict_fn, faces.images)
    train_idx, val_idx = stratified_split(faces.labels, cfg.val_fraction, cfg.split_seed)
    classifier = make_classifier(cfg.seed).fit(embeddings[train_idx], faces.labels[train_idx])
    figures = metrics.classification_metrics(classifier.predict(embeddings[val_idx]), faces.labels[val_idx])
    classifier = make_classifier(cfg.seed).fit(embeddings, faces.labels)
    buffer = io.BytesIO()
    pickle.dump({"classifier": classifier, "class_names": faces.class_names}, buffer)
    atomic_write_bytes(os.path.join(run_dir, CLASSIFIER_FILE), buffer.getvalue())
    print(f"classifier: SVM on {len(faces)} faces of {len(faces.class_names)} people from "
          f"{cfg.classify_data}; validation accuracy {figures['accuracy']:.4f}, macro F1 {figures['macro_f1']:.4f}")
    return {"data": cfg.classify_data, "faces": len(faces), **figures}


def load_classifier(run_dir):
    path = os.path.join(run_dir, CLASSIFIER_FILE)
    if not os.path.isfile(path):
        raise InputError(f"{run_dir}: no {CLASSIFIER_FILE} (train with --classify-data DIR)")
    with open(path, "rb") as f:
        return pickle.load(f)


def load_results(run_dir):
    path = os.path.join(run_dir, RESULTS_FILE)
    if not os.path.isfile(path):
        return {}
    with open(path) as f:
        return json.load(f)


# ---- Using a trained run: faces from keypoints, class predictions, a gallery of people.

# Where the LFW 2017 face box sits around a face's 68 keypoints (measured with the shipped
# keypoint model on 200 LFW photos, medians): centre 0.12 keypoint-box sides above the keypoint
# box's centre, 0.95 sides wide and 1.26 sides tall. Faces cut this way match training faces.
FACE_BOX_DY, FACE_BOX_WIDTH, FACE_BOX_HEIGHT = -0.12, 0.95, 1.26


def face_from_keypoints(image, points, size):
    """The recognition face (size, size, C) uint8 cut from an (H, W, C) image around 68 keypoints."""
    import cv2
    from facekp.tasks import face_boxes
    centers, sides = face_boxes(points[None])
    (cx, cy), side = centers[0], float(sides[0])
    width, height = FACE_BOX_WIDTH * side, FACE_BOX_HEIGHT * side
    cy += FACE_BOX_DY * side
    # output pixel (u, v) -> source (cx + (u - mid) * width / size, cy + (v - mid) * height / size)
    mid = (size - 1) / 2.0
    to_source = np.array([[width / size, 0, cx - mid * width / size], [0, height / size, cy - mid * height / size]])
    face = cv2.warpAffine(np.asarray(image, np.float32), to_source, (size, size),
                          flags=cv2.INTER_AREA | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)
    return np.clip(np.rint(face), 0, 255).astype(np.uint8).reshape(size, size, -1)


class Recogniser:
    """A trained identity or embedding run: outputs for faces, classes, the verification threshold."""

    def __init__(self, run_dir):
        from facekp.inference import compiled_predict, load_run
        self.run_dir = run_dir
        self.cfg, self.model = load_run(run_dir)
        if not isinstance(self.cfg, RecognitionConfig):
            raise InputError(f"{run_dir}: a {self.cfg.task} run, not a recognition run")
        self._predict = compiled_predict(self.model)

    def outputs(self, faces):
        """Logits (identity runs) or embeddings (embedding runs) of (N, S, S, C) faces."""
        return (face_embeddings if self.cfg.task == "embedding" else embed)(self._predict, faces)

    def classify(self, faces):
        """(class indices, class names): the identity head, or the embedding run's SVM."""
        if self.cfg.task == "identity":
            return np.argmax(self.outputs(faces), axis=1), list(self.cfg.class_names)
        saved = load_classifier(self.run_dir)
        return saved["classifier"].predict(self.outputs(faces)), list(saved["class_names"])

    def threshold(self):
        return load_results(self.run_dir).get("threshold")


class Gallery:
    """Embeddings of enrolled people; a face is the nearest person, or unknown beyond the threshold."""

    def __init__(self, embeddings, people, threshold):
        self.embeddings, self.people, self.threshold = np.asarray(embeddings), list(people), threshold

    def identify(self, embeddings):
        """[(person or 'unknown', distance to that person's nearest enrolled face)] per embedding."""
        out = []
        for e in np.atleast_2d(embeddings):
            distances = np.linalg.norm(self.embeddings - e, axis=1)
            best = int(np.argmin(distances))
            name = self.people[best] if distances[best] <= self.threshold else "unknown"
            out.append((name, float(distances[best])))
        return out
