"""Keypoint tasks: the 68-point YouTube-Faces frames, decoded once into crops around each face."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import tensorflow as tf

from facekp import losses, metrics, plots
from facekp.config import KeypointConfig
from facekp.data import images, landmark_files, pipeline, shards, youtube68
from facekp.data.dataset import DataSet
from facekp.data.geometry import face_boxes
from facekp.data.samples import Samples, split_by_group
from facekp.errors import InputError
from facekp.schemes import CONVENTIONS, IBUG68, Scheme, tiled_flip_perm

# Cached crops cover this many face-box sides, at twice the input size: room for rotation,
# shift and scale jitter without decoding again.
CACHE_MARGIN = 2.4


def load_keypoints68(cfg: KeypointConfig) -> Samples:
    """Decode every face once into a crop around it; keypoints follow into crop pixels. For the
    disk cache the crops are decoded later, a chunk at a time, as the cache is written.
    --extra-data's sources come after --data's faces, each marked by its number (`source`). Each
    source is a YouTube-Faces CSV folder, a .pts folder or an imglab XML (landmark_files.load);
    with --conventions heads or offset each face's points are the targets of its own convention's
    head (the others masked)."""
    sources = [cfg.data, *cfg.extra_folders]
    seen = [os.path.realpath(source) for source in sources]
    parts = []
    for i, source in enumerate(sources):
        if seen[i] in seen[:i]:
            raise InputError(f"--extra-data {source}: given already (as --data or in --extra-data)")
        try:
            parts.append(landmark_files.load(source))
        except InputError as e:
            raise InputError(f"--extra-data: {e}" if i else str(e))
    ann = youtube68.Annotations(
        [path for part in parts for path in part.paths],
        np.concatenate([part.keypoints for part in parts]),
        [group for part in parts for group in part.groups],
    )
    source = np.concatenate([np.full(len(part.paths), i) for i, part in enumerate(parts)])
    center, face = face_boxes(ann.keypoints)
    cache_size = 2 * cfg.input_size
    side = face * CACHE_MARGIN
    crops = images.CropSource(ann.paths, center, side, cache_size, cfg.channels)
    if shards.choose(cfg, len(crops), cache_size**2 * cfg.channels) == "disk":
        sizes = images.image_sizes(ann.paths)
    else:
        crops, sizes = images.decode_crops(ann.paths, center, side, cache_size, cfg.channels)
    from_csv = np.concatenate([np.full(len(part.paths), part.from_csv) for part in parts])
    youtube68.check_inside(ann, sizes, from_csv)  # .pts and XML points were checked against their face box
    points = images.to_crop_coords(ann.keypoints, center, side, cache_size).astype(np.float32)
    n, k = points.shape[:2]
    mask = np.ones((n, k), np.float32)
    heads = cfg.head_conventions
    if len(heads) > 1:  # each face's points in its own convention's head, the other heads masked
        head_of = np.concatenate([np.full(len(part.paths), heads.index(part.convention)) for part in parts])
        points = np.tile(points, (1, len(heads), 1))
        mask = np.concatenate([mask * (head_of == h)[:, None] for h in range(len(heads))], axis=1)
    mid = (cache_size - 1) / 2.0
    boxes = np.tile([[mid, mid, cache_size / CACHE_MARGIN * cfg.margin]], (n, 1)).astype(np.float32)
    return Samples(crops, points, mask, boxes, ann.groups, [os.path.basename(p) for p in ann.paths], source)


@dataclass(frozen=True)
class KeypointTask:
    """Keypoint regression on cached face crops (Samples), validated by NME (and RMSE)."""

    name: str
    scheme: Scheme
    data_subdir: str  # folder under $FACEKP_DATA
    load_samples: Callable[[KeypointConfig], Samples]  # cfg -> Samples
    best_metric: str = "nme"  # validation metric to minimise
    config_class: type = KeypointConfig
    extra_metrics: Callable[[np.ndarray, np.ndarray, np.ndarray], dict[str, float]] | None = (
        None  # (pred, true, mask) -> dict, beside NME and RMSE
    )
    higher_is_better: bool = False

    def prepare(self, cfg: KeypointConfig, samples: Samples) -> KeypointConfig:
        """The config as the data completes it (recognition records its people); 68 points: the
        convention of the model's first head (300-W's with one head per convention, else --data's)."""
        if self.scheme is not IBUG68:
            return cfg
        convention = CONVENTIONS[0] if cfg.conventions != "pooled" else landmark_files.convention_of(cfg.data)
        return dataclasses.replace(cfg, convention=convention)

    def flip_perm(self, cfg: KeypointConfig) -> tuple:
        """Left/right relabelling of the model's outputs: the scheme's, in each head."""
        return tiled_flip_perm(self.scheme, len(cfg.head_conventions))

    def split(self, cfg: KeypointConfig, samples: Samples) -> tuple[Samples, Samples]:
        """(training, validation) by person of --data; --extra-data's faces join training, less
        those of validation people (with --hold-out-extra, of any source's: each source split by
        person as if it were --data). The training crops go to the disk cache when chosen
        (written here, so a bad image stops the run before its directory exists)."""
        source = np.zeros(len(samples), int) if samples.source is None else samples.source
        train_idx, val_idx = self.source_split(cfg, samples, source, 0)
        held_out = {samples.groups[i] for i in val_idx}
        for s in range(1, source.max() + 1) if cfg.hold_out_extra else ():
            held_out |= {samples.groups[i] for i in self.source_split(cfg, samples, source, s)[1]}
        extra = np.flatnonzero(source > 0)
        added = [i for i in extra if samples.groups[i] not in held_out]
        if len(extra):
            print(
                f"--extra-data: {len(added)} faces trained on beside --data's ({len(extra) - len(added)} of "
                f"validation people left out{', of every source' if cfg.hold_out_extra else ''})"
            )
        train = samples.subset(np.concatenate([train_idx, added]).astype(int))
        if cfg.cache == "disk" or isinstance(train.images, images.CropSource):
            train = shards.cached(train, cfg, self.name)
        return train, samples.subset(val_idx)

    @staticmethod
    def source_split(cfg: KeypointConfig, samples: Samples, source: np.ndarray, which: int):
        """(training, validation) indices of one source's samples (0: --data), by group."""
        own = np.flatnonzero(source == which)
        return tuple(own[i] for i in split_by_group([samples.groups[i] for i in own], cfg.val_fraction, cfg.split_seed))

    def val_arrays(self, cfg: KeypointConfig, samples: Samples) -> dict[str, np.ndarray]:
        return pipeline.center_crops(samples, cfg, self.flip_perm(cfg))

    def train_batches(self, cfg: KeypointConfig, samples: Samples, start_step: int) -> tf.data.Dataset:
        """A tf.data.Dataset of batch dicts from `start_step` on: augmented, or DataSet.next_batch."""
        if cfg.source == "dataset":
            data = DataSet(pipeline.center_crops(samples, cfg, self.flip_perm(cfg)), cfg.seed)
            return pipeline.from_dataset(data, cfg.batch_size, start_step, cfg.steps)
        return pipeline.train_dataset(samples, cfg, self.flip_perm(cfg), start_step)

    def loss_fn(self, cfg: KeypointConfig) -> Callable[[tf.Tensor, dict[str, tf.Tensor]], tf.Tensor]:
        """--loss on the points; the heatmap head trains on its maps instead (losses.heatmap_offsets)."""
        if cfg.head == "heatmap":
            return lambda maps, batch: losses.heatmap_offsets(maps, batch["keypoints"], batch["mask"], cfg.input_size)
        loss = losses.KEYPOINT_LOSSES[cfg.loss]
        return lambda outputs, batch: loss(outputs, batch["keypoints"], batch["mask"])

    def evaluate(self, predictions: np.ndarray, arrays: dict[str, np.ndarray]) -> dict[str, float]:
        true, mask = arrays["keypoints"], arrays["mask"]
        results = metrics.keypoint_metrics(predictions, true, mask, self.scheme.norm_points)
        if self.extra_metrics:
            results.update(self.extra_metrics(predictions, true, mask))
        return results

    def summary_images(self, predictions: np.ndarray, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """TensorBoard pictures of validation predictions: the first 8 faces with their points."""
        grid = plots.keypoint_grid(arrays["image"][:8], predictions[:8], arrays["keypoints"][:8])
        return {"val/keypoints": grid[None]}

    def after_training(
        self, cfg: KeypointConfig, run_dir: str, predict_fn: Callable[[np.ndarray], Any], val: dict[str, np.ndarray]
    ) -> dict[str, Any]:
        return {}

    def after_training_done(self, cfg: KeypointConfig, run_dir: str) -> bool:
        return True


KEYPOINTS68 = KeypointTask("keypoints68", IBUG68, "youtube-faces-68", load_keypoints68)
