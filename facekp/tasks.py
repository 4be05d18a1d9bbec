"""Tasks plug into the one training loop: each supplies its data, model fn, loss and metrics."""
import os
from dataclasses import dataclass
from typing import Callable

import numpy as np

from facekp import losses, metrics, models, plots, recognition
from facekp.config import KeypointConfig
from facekp.data import images, kaggle_fkd, pipeline, youtube68
from facekp.data.dataset import DataSet
from facekp.data.samples import Samples, split_by_group
from facekp.errors import InputError
from facekp.fileio import open_text
from facekp.schemes import IBUG68, KAGGLE15, Scheme

# Cached crops cover this many face-box sides, at twice the input size: room for rotation,
# shift and scale jitter without decoding again.
CACHE_MARGIN = 2.4


def resolve_data_dir(data, subdir):
    """--data, else $FACEKP_DATA/<subdir>."""
    if data:
        return os.path.abspath(data)
    root = os.environ.get("FACEKP_DATA")
    if not root:
        raise InputError("--data: no data folder given and FACEKP_DATA is not set")
    return os.path.abspath(os.path.join(root, subdir))


def face_boxes(keypoints):
    """Centre (N,2) and side (N,) of each face's keypoint box (square: the longer side)."""
    lo, hi = np.nanmin(keypoints, axis=1), np.nanmax(keypoints, axis=1)
    return (lo + hi) / 2.0, (hi - lo).max(axis=1)


def load_youtube68(cfg):
    """Decode every frame once into a crop around its face; keypoints follow into crop pixels."""
    ann = youtube68.load(cfg.data)
    center, face = face_boxes(ann.keypoints)
    cache_size = 2 * cfg.input_size
    side = face * CACHE_MARGIN
    crops, sizes = images.decode_crops(ann.paths, center, side, cache_size, cfg.channels)
    youtube68.check_inside(ann, sizes)
    points = images.to_crop_coords(ann.keypoints, center, side, cache_size)
    n, k = points.shape[:2]
    mid = (cache_size - 1) / 2.0
    boxes = np.tile([[mid, mid, cache_size / CACHE_MARGIN * cfg.margin]], (n, 1)).astype(np.float32)
    return Samples(crops, points.astype(np.float32), np.ones((n, k), np.float32), boxes,
                   ann.groups, [os.path.basename(p) for p in ann.paths])


def read_groups(path, count):
    """One group per training row: a file of names, one a line, or a 68-point CSV (person of each file)."""
    try:
        with open_text(path) as f:
            lines = f.read().splitlines()
    except OSError as e:
        raise InputError(f"{path}: cannot read groups file ({e.strerror})")
    if lines and lines[0].startswith(",0,1,"):  # the 68-point CSV: rows match training.csv's
        lines = [youtube68.person_of(line.split(",", 1)[0]) for line in lines[1:]]
    lines = [line for line in lines if line]
    if len(lines) != count:
        raise InputError(f"{path}: {len(lines)} groups for {count} training rows")
    return lines


def load_kaggle15(cfg):
    """The 96x96 images are the crops already: the box is the whole image."""
    images_, points, mask = kaggle_fkd.read_training(cfg.data)
    n = len(images_)
    groups = read_groups(cfg.groups, n) if cfg.groups else [f"row{i}" for i in range(n)]
    mid = (kaggle_fkd.SIDE - 1) / 2.0
    boxes = np.tile([[mid, mid, kaggle_fkd.SIDE]], (n, 1)).astype(np.float32)
    return Samples(images_, np.nan_to_num(points), mask, boxes, groups, [f"line {i + 2}" for i in range(n)])


@dataclass(frozen=True)
class KeypointTask:
    name: str
    scheme: Scheme
    data_subdir: str  # folder under $FACEKP_DATA
    load_samples: Callable  # cfg -> Samples
    best_metric: str = "nme"  # validation metric to minimise
    config_class: type = KeypointConfig
    extra_metrics: Callable = None  # (pred, true, mask) -> dict, beside NME and RMSE
    higher_is_better: bool = False

    def prepare(self, cfg, samples):
        """The config as the data completes it (recognition records its people); keypoints: as is."""
        return cfg

    def split(self, cfg, samples):
        train_idx, val_idx = split_by_group(samples.groups, cfg.val_fraction, cfg.split_seed)
        return samples.subset(train_idx), samples.subset(val_idx)

    def val_arrays(self, cfg, samples):
        return pipeline.center_crops(samples, cfg, self.scheme.flip_perm)

    def train_batches(self, cfg, samples, start_step):
        """A tf.data.Dataset of batch dicts from `start_step` on: augmented, or DataSet.next_batch."""
        if cfg.source == "dataset":
            data = DataSet(pipeline.center_crops(samples, cfg, self.scheme.flip_perm), cfg.seed)
            return pipeline.from_dataset(data, cfg.batch_size, start_step, cfg.steps)
        return pipeline.train_dataset(samples, cfg, self.scheme.flip_perm, start_step)

    def build_model(self, cfg):
        return models.build_keypoint_model(cfg, self.scheme.num_points)

    def loss_fn(self, cfg):
        if cfg.loss not in losses.KEYPOINT_LOSSES:
            raise InputError(f"--loss: unknown loss '{cfg.loss}' (choose from {', '.join(losses.KEYPOINT_LOSSES)})")
        loss = losses.KEYPOINT_LOSSES[cfg.loss]
        return lambda outputs, batch: loss(outputs, batch["keypoints"], batch["mask"])

    def evaluate(self, predictions, arrays):
        true, mask = arrays["keypoints"], arrays["mask"]
        results = metrics.keypoint_metrics(predictions, true, mask, self.scheme.norm_points)
        if self.extra_metrics:
            results.update(self.extra_metrics(predictions, true, mask))
        return results

    def summary_images(self, predictions, arrays):
        """TensorBoard pictures of validation predictions: the first 8 faces with their points."""
        grid = plots.keypoint_grid(arrays["image"][:8], predictions[:8], arrays["keypoints"][:8])
        return {"val/keypoints": grid[None]}

    def after_training(self, cfg, run_dir, predict_fn, val):
        return {}


TASKS = {
    "keypoints68": KeypointTask("keypoints68", IBUG68, "youtube-faces-68", load_youtube68),
    "kaggle15": KeypointTask("kaggle15", KAGGLE15, "kaggle-fkd-yt", load_kaggle15, best_metric="rmse",
                             extra_metrics=metrics.kaggle_subset_rmse),
    "identity": recognition.IdentityTask("identity", "lfw2017", best_metric="macro_f1"),
    "embedding": recognition.EmbeddingTask("embedding", "lfw", best_metric="verification_accuracy"),
}


def get(name):
    if name not in TASKS:
        raise InputError(f"--task: unknown task '{name}' (choose from {', '.join(TASKS)})")
    return TASKS[name]
