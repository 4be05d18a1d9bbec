"""Keypoint-consistent geometry and photometry, all TF ops (runs inside tf.data, batched).

Coordinates are pixels with pixel centres at integers, x then y. One affine map per image, from
output (crop) pixels to source pixels, warps the image; its inverse moves the keypoints. Crop,
scale, shift, rotation and flip are all parameters of that one map, so image and points cannot drift.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from facekp.config import RecognitionConfig, TrainConfig


def crop_affine(
    center: tf.Tensor | np.ndarray,
    side: tf.Tensor | np.ndarray,
    out_size: int,
    angle: tf.Tensor | None = None,
    flip: tf.Tensor | None = None,
) -> tuple[tf.Tensor, tf.Tensor]:
    """Affine maps (A (B,2,2), t (B,2)) with source = A @ output + t.

    The output square of `out_size` pixels shows the source square of side `side` around `center`,
    rotated by `angle` (radians, in image axes: x right, y down) and mirrored left/right where
    `flip` is true.
    """
    center = tf.cast(center, tf.float32)  # (B, 2)
    scale = tf.cast(side, tf.float32) / float(out_size)  # (B,)
    angle = tf.zeros_like(scale) if angle is None else tf.cast(angle, tf.float32)
    mirror = tf.ones_like(scale) if flip is None else tf.where(flip, -1.0, 1.0)
    cos, sin = tf.cos(angle) * scale, tf.sin(angle) * scale
    A = tf.reshape(tf.stack([cos * mirror, -sin, sin * mirror, cos], axis=-1), [-1, 2, 2])
    mid = (out_size - 1) / 2.0
    t = center - tf.linalg.matvec(A, tf.fill(tf.shape(center), mid))
    return A, t


def warp_images(images: tf.Tensor, A: tf.Tensor, t: tf.Tensor, out_size: int) -> tf.Tensor:
    """Sample (B,H,W,C) float images at source = A @ output + t; edges repeat outside the image."""
    transforms = tf.concat([A[:, 0, :], t[:, :1], A[:, 1, :], t[:, 1:], tf.zeros_like(t)], axis=1)
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=tf.cast(images, tf.float32),
        transforms=transforms,
        output_shape=tf.constant([out_size, out_size], tf.int32),
        interpolation="BILINEAR",
        fill_mode="NEAREST",
        fill_value=0.0,
    )


def points_to_output(points: tf.Tensor, A: tf.Tensor, t: tf.Tensor) -> tf.Tensor:
    """Source points (B,K,2) -> output pixels, the inverse of the warp's map."""
    return tf.einsum("bij,bkj->bki", tf.linalg.inv(A), points - t[:, None, :])


def points_to_source(points: tf.Tensor, A: tf.Tensor, t: tf.Tensor) -> tf.Tensor:
    """Output points (B,K,2) -> source pixels (maps predictions back to the original image)."""
    return tf.einsum("bij,bkj->bki", A, points) + t[:, None, :]


def swap_left_right(
    keypoints: tf.Tensor, mask: tf.Tensor, flip: tf.Tensor, flip_perm: Sequence[int]
) -> tuple[tf.Tensor, tf.Tensor]:
    """After a mirror, point i is where point flip_perm[i] was: relabel where `flip` is true."""
    perm = tf.constant(flip_perm, tf.int32)
    keypoints = tf.where(flip[:, None, None], tf.gather(keypoints, perm, axis=1), keypoints)
    mask = tf.where(flip[:, None], tf.gather(mask, perm, axis=1), mask)
    return keypoints, mask


def crop_batch(
    images: tf.Tensor,
    keypoints: tf.Tensor,
    mask: tf.Tensor,
    boxes: tf.Tensor,
    out_size: int,
    flip_perm: Sequence[int],
    angle: tf.Tensor | None = None,
    flip: tf.Tensor | None = None,
    scale: tf.Tensor | None = None,
    shift: tf.Tensor | None = None,
    flip_bias: float = 0.0,
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Crop (and optionally jitter) a batch: images uint8 (B,H,W,C), boxes (B,3) = cx, cy, side.

    Returns float images in [0, 1] at out_size and keypoints in output pixels. `flip_bias`: the
    labels' offset to the right of what they mark, as a fraction of the face box's crop side;
    a mirrored image's targets are moved back by twice it, so mirrored and plain images agree.
    """
    center, side = boxes[:, :2], boxes[:, 2]
    if scale is not None:
        side = side * scale
    if shift is not None:
        center = center + shift * side[:, None]
    A, t = crop_affine(center, side, out_size, angle, flip)
    out = warp_images(images, A, t, out_size) / 255.0
    points = points_to_output(keypoints, A, t)
    if flip is not None:
        points, mask = swap_left_right(points, mask, flip, flip_perm)
        if flip_bias:
            # A plain crop turned by a shows the bias along (cos a, -sin a). A mirrored one is a
            # plain crop of the mirrored photo turned by -a, so a model reads its bias along
            # (cos a, sin a), while the mirrored labels carry it along (-cos a, -sin a).
            turned = tf.zeros_like(side) if angle is None else angle
            length = 2.0 * flip_bias * boxes[:, 2] * out_size / side  # twice the bias, output pixels
            moved = tf.stack([tf.cos(turned), tf.sin(turned)], axis=-1) * length[:, None]
            points = points + tf.where(flip[:, None], moved, 0.0)[:, None, :]
    return out, points, mask


def random_params(seed: tf.Tensor, batch: int | tf.Tensor, cfg: TrainConfig) -> dict[str, tf.Tensor]:
    """Per-image jitter drawn from a stateless seed (same seed -> same augmentation)."""
    seeds = tf.random.experimental.stateless_split(seed, num=6)
    uniform = lambda i, shape, lo, hi: tf.random.stateless_uniform(shape, seeds[i], lo, hi)
    max_angle = math.radians(cfg.rotation)
    log_scale = math.log1p(cfg.scale_jitter)
    return dict(
        angle=uniform(0, [batch], -max_angle, max_angle),
        flip=uniform(1, [batch], 0.0, 1.0) < cfg.flip,
        scale=tf.exp(uniform(2, [batch], -log_scale, log_scale)),
        shift=uniform(3, [batch, 2], -cfg.shift_jitter, cfg.shift_jitter),
        brightness=uniform(4, [batch, 1, 1, 1], -cfg.brightness, cfg.brightness),
        contrast=1.0 + uniform(5, [batch, 1, 1, 1], -cfg.contrast, cfg.contrast),
    )


def adjust_photometry(images: tf.Tensor, brightness: tf.Tensor, contrast: tf.Tensor) -> tf.Tensor:
    """Contrast about each image's mean, then a brightness offset; stays in [0, 1]."""
    mean = tf.reduce_mean(images, axis=[1, 2, 3], keepdims=True)
    return tf.clip_by_value((images - mean) * contrast + mean + brightness, 0.0, 1.0)


def augment_batch(
    images: tf.Tensor,
    keypoints: tf.Tensor,
    mask: tf.Tensor,
    boxes: tf.Tensor,
    seed: tf.Tensor,
    cfg: TrainConfig,
    flip_perm: Sequence[int],
    flip_bias: float = 0.0,
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Random rotation, flip (with left/right relabelling, and the labels' bias, see crop_batch),
    crop scale/shift, photometry, low resolution and occlusion."""
    p = random_params(seed, tf.shape(images)[0], cfg)
    out, points, mask = crop_batch(
        images,
        keypoints,
        mask,
        boxes,
        cfg.input_size,
        flip_perm,
        angle=p["angle"],
        flip=p["flip"],
        scale=p["scale"],
        shift=p["shift"],
        flip_bias=flip_bias,
    )
    out = adjust_photometry(out, p["brightness"], p["contrast"])
    out = lower_resolution(out, tf.random.experimental.stateless_fold_in(seed, 7), cfg.low_resolution)
    return occlude(out, tf.random.experimental.stateless_fold_in(seed, 8), cfg.occlusion), points, mask


def augment_faces(images: tf.Tensor, seed: tf.Tensor, cfg: RecognitionConfig) -> tf.Tensor:
    """The same random geometry, photometry, low resolution and occlusion for faces without
    keypoints (recognition).

    images: (B, S, S, C) uint8 faces filling the image; returns floats in [0, 1] at cfg.input_size.
    """
    batch, side = tf.shape(images)[0], tf.cast(tf.shape(images)[1], tf.float32)
    mid = (side - 1.0) / 2.0
    boxes = tf.tile(tf.stack([mid, mid, side])[None], [batch, 1])
    no_points = tf.zeros([batch, 0, 2])
    return augment_batch(images, no_points, tf.zeros([batch, 0]), boxes, seed, cfg, flip_perm=())[0]


# How far --low-resolution shrinks a face before enlarging it back: the 50x37 LFW 2017 faces are
# about a third of the 96 px aligned face's side.
LOW_RESOLUTION_SCALE = (0.25, 0.6)


def lower_resolution(images: tf.Tensor, seed: tf.Tensor, probability: float) -> tf.Tensor:
    """Each image, with `probability`, shrunk (area filter) by a factor drawn per batch from
    LOW_RESOLUTION_SCALE and enlarged back (bilinear): the blur of a small face made big."""
    if probability <= 0:
        return images
    seeds = tf.random.experimental.stateless_split(seed, num=2)
    size = tf.shape(images)[1:3]
    factor = tf.random.stateless_uniform([], seeds[0], *LOW_RESOLUTION_SCALE)
    small = tf.maximum(tf.cast(tf.round(tf.cast(size, tf.float32) * factor), tf.int32), 1)
    blurred = tf.image.resize(tf.image.resize(images, small, method="area"), size, method="bilinear")
    chosen = tf.random.stateless_uniform([tf.shape(images)[0], 1, 1, 1], seeds[1]) < probability
    return tf.where(chosen, blurred, images)


# The side of an --occlusion rectangle, each way, as a fraction of the image side.
OCCLUSION_SIDE = (0.15, 0.4)


def occlude(images: tf.Tensor, seed: tf.Tensor, probability: float) -> tf.Tensor:
    """Each image, with `probability`, under one rectangle of a random grey (sides drawn from
    OCCLUSION_SIDE, centre anywhere in the image): what a hand or a microphone hides."""
    if probability <= 0:
        return images
    seeds = tf.random.experimental.stateless_split(seed, num=4)
    batch, height, width = tf.shape(images)[0], tf.shape(images)[1], tf.shape(images)[2]
    half = tf.random.stateless_uniform([batch, 1, 1, 2], seeds[0], *OCCLUSION_SIDE) / 2.0  # (w, h) fractions
    center = tf.random.stateless_uniform([batch, 1, 1, 2], seeds[1])
    ys = (tf.range(height, dtype=tf.float32) + 0.5) / tf.cast(height, tf.float32)
    xs = (tf.range(width, dtype=tf.float32) + 0.5) / tf.cast(width, tf.float32)
    grid = tf.stack(tf.meshgrid(xs, ys), axis=-1)[None]  # (1, H, W, 2) pixel centres as fractions
    inside = tf.reduce_all(tf.abs(grid - center) <= half, axis=-1, keepdims=True)  # (B, H, W, 1)
    chosen = tf.random.stateless_uniform([batch, 1, 1, 1], seeds[2]) < probability
    grey = tf.random.stateless_uniform([batch, 1, 1, 1], seeds[3])
    return tf.where(inside & chosen, grey, images)
