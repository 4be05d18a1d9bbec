"""tf.data pipelines over in-memory Samples: step-indexed, seeded, resumable at any step.

Batch `step` always holds the same images with the same augmentation for a given seed: its
sample positions are step*B .. step*B+B-1 of an endless stream of seeded per-epoch permutations
(for keypoint crops, shard by shard: facekp/data/shards.py, which the disk cache streams in the
same order). So a resumed run continues exactly where it stopped, and two runs with one seed see
equal batches.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from facekp.config import KeypointConfig, RecognitionConfig
from facekp.data import augment, images, shards
from facekp.data.dataset import DataSet
from facekp.data.identities import Faces
from facekp.data.samples import Samples


def batch_indices(step: int | tf.Tensor, batch_size: int, num_samples: int | tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Sample indices of batch `step`: positions in a stream of per-epoch permutations."""
    pos = tf.cast(step, tf.int64) * batch_size + tf.range(batch_size, dtype=tf.int64)
    epoch, within = pos // num_samples, pos % num_samples
    first = epoch[0]
    epochs = tf.range(first, epoch[-1] + 1)
    perms = tf.map_fn(  # (n_epochs, N): argsort of seeded uniforms is a seeded permutation
        lambda e: tf.argsort(tf.random.stateless_uniform([num_samples], tf.stack([seed, 2 * e]))),
        epochs,
        fn_output_signature=tf.int32,
    )
    return tf.gather_nd(perms, tf.stack([epoch - first, within], axis=1))


def train_dataset(
    samples: Samples, cfg: KeypointConfig, flip_perm: Sequence[int], start_step: int = 0
) -> tf.data.Dataset:
    """Augmented training batches for steps start_step .. cfg.steps-1 (dicts of tensors), from
    memory or streamed from a disk cache: the same batches either way (shards.stream_indices)."""
    seed = tf.constant(cfg.seed, tf.int64)

    def augmented(step, batch):
        image, points, point_mask = augment.augment_batch(
            batch["image"],
            batch["keypoints"],
            batch["mask"],
            batch["boxes"],
            tf.stack([seed, 2 * step + 1]),
            cfg,
            flip_perm,
            cfg.flip_bias,
        )
        return {"image": image, "keypoints": points, "mask": point_mask}

    if isinstance(samples.images, shards.ShardedImages):
        ds = shards.read_batches(samples.images, cfg.batch_size, start_step, cfg.steps, seed)
        return ds.map(augmented, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).prefetch(tf.data.AUTOTUNE)
    per_shard = shards.records_per_shard(samples.images.shape[1:])
    arrays = {
        "image": tf.constant(samples.images),
        "keypoints": tf.constant(samples.keypoints, tf.float32),
        "mask": tf.constant(samples.mask, tf.float32),
        "boxes": tf.constant(samples.boxes, tf.float32),
    }

    def make_batch(step):
        index = shards.stream_indices(step, cfg.batch_size, len(samples), per_shard, seed)
        return augmented(step, {name: tf.gather(value, index) for name, value in arrays.items()})

    ds = tf.data.Dataset.range(start_step, cfg.steps)
    ds = ds.map(make_batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE)


def person_batch_indices(
    step: int | tf.Tensor,
    people_per_batch: int,
    per_person: int,
    offsets: tf.Tensor,
    counts: tf.Tensor,
    seed: tf.Tensor,
) -> tf.Tensor:
    """Sample indices of P x K batch `step`: P people from a seeded stream of per-epoch person
    permutations, then K distinct images of each (repeats only for people with fewer than K).

    Faces are sorted by person: person p's images are offsets[p] .. offsets[p] + counts[p] - 1.
    """
    people = batch_indices(step, people_per_batch, tf.size(counts, out_type=tf.int64), seed)  # (P,)
    count = tf.gather(counts, people)
    draw_seed = tf.stack([seed, -1 - tf.cast(step, tf.int64)])  # apart from the epoch and augment seeds
    scores = tf.random.stateless_uniform([people_per_batch, tf.reduce_max(counts)], draw_seed)
    scores = tf.where(tf.range(tf.reduce_max(counts))[None] < count[:, None], scores, 2.0)  # mask past count
    chosen = tf.argsort(scores, axis=1)[:, :per_person] % count[:, None]  # (P, K)
    return tf.reshape(tf.gather(offsets, people)[:, None] + chosen, [-1])


def face_dataset(
    faces: Faces,
    cfg: RecognitionConfig,
    start_step: int,
    weights: np.ndarray | None = None,
    per_person: int | None = None,
) -> tf.data.Dataset:
    """Augmented recognition batches {image, label, weight} for steps start_step .. cfg.steps-1.

    With `per_person` (K): P x K batches, K images of each of batch_size / K people (faces in
    memory); else uniformly shuffled batches, from memory or streamed from a disk cache: the same
    batches either way (shards.stream_indices). Each face's loss weight is `weights[its label]`
    (default 1).
    """
    seed = tf.constant(cfg.seed, tf.int64)
    class_weight = None if weights is None else tf.constant(weights, tf.float32)

    def augmented(step, image, label):
        return {
            "image": augment.augment_faces(image, tf.stack([seed, 2 * step + 1]), cfg),
            "label": label,
            "weight": tf.ones_like(label, tf.float32) if class_weight is None else tf.gather(class_weight, label),
        }

    if isinstance(faces.images, shards.ShardedImages):
        if per_person:
            raise ValueError("P x K batches need the faces in memory, not in the disk cache")
        ds = shards.read_batches(faces.images, cfg.batch_size, start_step, cfg.steps, seed)
        ds = ds.map(lambda step, batch: augmented(step, batch["image"], batch["label"]), tf.data.AUTOTUNE, True)
        return ds.prefetch(tf.data.AUTOTUNE)
    images, labels = tf.constant(faces.images), tf.constant(faces.labels, tf.int32)
    if per_person:
        order = np.argsort(faces.labels, kind="stable")  # P x K needs each person's faces together
        images, labels = tf.gather(images, order), tf.gather(labels, order)
        counts = np.bincount(faces.labels)
        present = np.flatnonzero(counts)
        offsets = tf.constant(np.searchsorted(faces.labels[order], present), tf.int32)
        counts = tf.constant(counts[present], tf.int32)
        index_of = lambda step: person_batch_indices(
            step, cfg.batch_size // per_person, per_person, offsets, counts, seed
        )
    else:
        per_shard = shards.records_per_shard(faces.images.shape[1:])
        index_of = lambda step: shards.stream_indices(step, cfg.batch_size, len(faces), per_shard, seed)

    def make_batch(step):
        index = index_of(step)
        return augmented(step, tf.gather(images, index), tf.gather(labels, index))

    ds = tf.data.Dataset.range(start_step, cfg.steps)
    ds = ds.map(make_batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE)


def center_crops(
    samples: Samples, cfg: KeypointConfig, flip_perm: Sequence[int], batch_size: int = 256
) -> dict[str, np.ndarray]:
    """Un-augmented crops at the input size, as numpy arrays (validation, DataSet source)."""
    out = {"image": [], "keypoints": [], "mask": []}
    for start in range(0, len(samples), batch_size):
        part = slice(start, start + batch_size)
        image, points, mask = augment.crop_batch(
            tf.constant(images.pixels(samples.images[part])),
            tf.constant(samples.keypoints[part], tf.float32),
            tf.constant(samples.mask[part], tf.float32),
            tf.constant(samples.boxes[part], tf.float32),
            cfg.input_size,
            flip_perm,
        )
        for key, value in (("image", image), ("keypoints", points), ("mask", mask)):
            out[key].append(value.numpy())
    return {key: np.concatenate(parts) for key, parts in out.items()}


def from_dataset(data: DataSet, batch_size: int, start_step: int, steps: int) -> tf.data.Dataset:
    """A DataSet's next_batch stream (from `start_step`) as a tf.data.Dataset, for the same loop."""
    signature = {
        key: tf.TensorSpec((batch_size,) + value.shape[1:], tf.as_dtype(value.dtype))
        for key, value in data.arrays.items()
    }
    batches = data.batches(batch_size, start_step)
    ds = tf.data.Dataset.from_generator(lambda: batches, output_signature=signature)
    return ds.take(steps - start_step).prefetch(2)
