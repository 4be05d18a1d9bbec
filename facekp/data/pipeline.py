"""tf.data pipelines over in-memory Samples: step-indexed, seeded, resumable at any step.

Batch `step` always holds the same images with the same augmentation for a given seed: its
sample positions are step*B .. step*B+B-1 of an endless stream of seeded per-epoch permutations.
So a resumed run continues exactly where it stopped, and two runs with one seed see equal batches.
"""
import numpy as np
import tensorflow as tf

from facekp.data import augment


def batch_indices(step, batch_size, num_samples, seed):
    """Sample indices of batch `step`: positions in a stream of per-epoch permutations."""
    pos = tf.cast(step, tf.int64) * batch_size + tf.range(batch_size, dtype=tf.int64)
    epoch, within = pos // num_samples, pos % num_samples
    first = epoch[0]
    epochs = tf.range(first, epoch[-1] + 1)
    perms = tf.map_fn(  # (n_epochs, N): argsort of seeded uniforms is a seeded permutation
        lambda e: tf.argsort(tf.random.stateless_uniform([num_samples], tf.stack([seed, 2 * e]))),
        epochs, fn_output_signature=tf.int32)
    return tf.gather_nd(perms, tf.stack([epoch - first, within], axis=1))


def train_dataset(samples, cfg, flip_perm, start_step=0):
    """Augmented training batches for steps start_step .. cfg.steps-1 (dicts of tensors)."""
    images = tf.constant(samples.images)
    keypoints = tf.constant(samples.keypoints, tf.float32)
    mask = tf.constant(samples.mask, tf.float32)
    boxes = tf.constant(samples.boxes, tf.float32)
    seed = tf.constant(cfg.seed, tf.int64)

    def make_batch(step):
        index = batch_indices(step, cfg.batch_size, len(samples), seed)
        image, points, point_mask = augment.augment_batch(
            tf.gather(images, index), tf.gather(keypoints, index), tf.gather(mask, index),
            tf.gather(boxes, index), tf.stack([seed, 2 * step + 1]), cfg, flip_perm)
        return {"image": image, "keypoints": points, "mask": point_mask}

    ds = tf.data.Dataset.range(start_step, cfg.steps)
    ds = ds.map(make_batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE)


def center_crops(samples, cfg, flip_perm, batch_size=256):
    """Un-augmented crops at the input size, as numpy arrays (validation, DataSet source)."""
    out = {"image": [], "keypoints": [], "mask": []}
    for start in range(0, len(samples), batch_size):
        part = slice(start, start + batch_size)
        image, points, mask = augment.crop_batch(
            tf.constant(samples.images[part]), tf.constant(samples.keypoints[part], tf.float32),
            tf.constant(samples.mask[part], tf.float32), tf.constant(samples.boxes[part], tf.float32),
            cfg.input_size, flip_perm)
        for key, value in (("image", image), ("keypoints", points), ("mask", mask)):
            out[key].append(value.numpy())
    return {key: np.concatenate(parts) for key, parts in out.items()}


def from_dataset(data, batch_size, start_step, steps):
    """A DataSet's next_batch stream (from `start_step`) as a tf.data.Dataset, for the same loop."""
    signature = {key: tf.TensorSpec((batch_size,) + value.shape[1:], tf.as_dtype(value.dtype))
                 for key, value in data.arrays.items()}
    batches = data.batches(batch_size, start_step)
    ds = tf.data.Dataset.from_generator(lambda: batches, output_signature=signature)
    return ds.take(steps - start_step).prefetch(2)
