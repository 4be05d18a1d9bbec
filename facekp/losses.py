"""Keypoint losses: plain functions of tensors, picked by name from the config.

pred, true: (B, K, 2) keypoints in input pixels, x then y; mask: (B, K), 1 where labelled.
Unlabelled points contribute nothing, not even NaN, and have zero gradient.
"""

from __future__ import annotations

import math

import tensorflow as tf

from facekp.models.keypoints import HeatmapOffsets, cell_grid


def _masked_mean(per_coord, mask):
    """Mean of (B,K,2) values over the labelled points."""
    weights = tf.cast(mask, per_coord.dtype)[..., None] * tf.ones_like(per_coord)
    return tf.reduce_sum(per_coord * weights) / tf.maximum(tf.reduce_sum(weights), 1.0)


def _error(pred, true, mask):
    true = tf.where(mask[..., None] > 0, true, pred)  # missing labels: zero error, finite gradient
    return pred - true


def l1(pred: tf.Tensor, true: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
    return _masked_mean(tf.abs(_error(pred, true, mask)), mask)


def mse(pred: tf.Tensor, true: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
    return _masked_mean(tf.square(_error(pred, true, mask)), mask)


def wing(pred: tf.Tensor, true: tf.Tensor, mask: tf.Tensor, w: float = 10.0, eps: float = 2.0) -> tf.Tensor:
    """Wing loss (Feng et al. 2018): log-shaped for small errors, L1 for large ones (pixels)."""
    x = tf.abs(_error(pred, true, mask))
    c = w - w * math.log(1.0 + w / eps)
    return _masked_mean(tf.where(x < w, w * tf.math.log1p(x / eps), x - c), mask)


KEYPOINT_LOSSES = {"wing": wing, "l1": l1, "mse": mse}


def heatmap_offsets(
    maps: tf.Tensor, true: tf.Tensor, mask: tf.Tensor, input_size: int, sigma: float = 1.0
) -> tf.Tensor:
    """The heatmap + offset head's loss on its maps (B, h, w, 3K) (models.keypoints.HeatmapOffsets):
    cross-entropy of each point's cell scores against a Gaussian of `sigma` cells around the truth,
    plus the L1 error in pixels of the offsets of the cells within 1.5 cells of it (the argmax may
    land on a neighbour of the true cell: its offset must reach the point too). The two terms are
    summed as they are (nats and pixels), as tuned at 96 px."""
    h, w = maps.shape[1], maps.shape[2]
    stride = input_size / w
    scores, offsets = HeatmapOffsets.split(maps)
    offsets = offsets * stride
    grid = cell_grid(input_size, h, w, maps.dtype)
    true = tf.where(mask[..., None] > 0, true, 0.0)  # unlabelled points: finite, then weighed out
    to_point = true[:, None] - grid[None, :, None]  # (B, h*w, K, 2) pixels from each cell centre to the point
    target = tf.nn.softmax(-tf.reduce_sum(tf.square(to_point / stride), -1) / (2.0 * sigma**2), axis=1)
    cross_entropy = -tf.reduce_sum(target * tf.nn.log_softmax(scores, axis=1), axis=1)  # (B, K)
    near = tf.cast(tf.reduce_max(tf.abs(to_point), -1) <= 1.5 * stride, maps.dtype)  # (B, h*w, K)
    offset_error = tf.reduce_sum(tf.abs(offsets - to_point), -1)
    offset_loss = tf.reduce_sum(near * offset_error, 1) / tf.maximum(tf.reduce_sum(near, 1), 1.0)
    weights = tf.cast(mask, maps.dtype)
    return tf.reduce_sum((cross_entropy + offset_loss) * weights) / tf.maximum(tf.reduce_sum(weights), 1.0)


# ---- Recognition losses. labels: (B,) int person ids.


def class_weighted_cross_entropy(
    logits: tf.Tensor, labels: tf.Tensor, weights: tf.Tensor, label_smoothing: float = 0.0
) -> tf.Tensor:
    """Softmax cross-entropy, each example weighted (e.g. by inverse class frequency)."""
    onehot = tf.one_hot(labels, tf.shape(logits)[-1])
    if label_smoothing:
        onehot = onehot * (1.0 - label_smoothing) + label_smoothing / tf.cast(tf.shape(logits)[-1], tf.float32)
    per_example = tf.nn.softmax_cross_entropy_with_logits(onehot, logits)
    return tf.reduce_sum(per_example * weights) / tf.maximum(tf.reduce_sum(weights), 1e-6)


def squared_distances(embeddings: tf.Tensor) -> tf.Tensor:
    """(B, B) squared Euclidean distances between rows."""
    sq = tf.reduce_sum(tf.square(embeddings), axis=1)
    return tf.maximum(sq[:, None] - 2.0 * tf.matmul(embeddings, embeddings, transpose_b=True) + sq[None, :], 0.0)


def semihard_negatives(distances: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
    """For every anchor-positive pair (a, p): the distance to its negative (B, B), FaceNet's choice:

    the closest negative farther than the positive (semi-hard); where none is, the farthest
    negative (the easiest, so that hard examples cannot collapse the embedding early on).
    """
    same = tf.equal(labels[:, None], labels[None, :])
    d_an = tf.where(same, tf.constant(float("nan")), distances)[:, None, :]  # (a, 1, n)
    d_ap = distances[:, :, None]  # (a, p, 1)
    farther = tf.logical_and(d_an > d_ap, tf.logical_not(same)[:, None, :])  # (a, p, n)
    big = tf.reduce_max(distances) + 1.0
    closest_farther = tf.reduce_min(tf.where(farther, tf.broadcast_to(d_an, tf.shape(farther)), big), axis=2)
    farthest = tf.reduce_max(tf.where(same, -1.0, distances), axis=1)[:, None]
    has_semihard = tf.reduce_any(farther, axis=2)
    return tf.where(has_semihard, closest_farther, tf.broadcast_to(farthest, tf.shape(has_semihard)))


def triplet_semihard(embeddings: tf.Tensor, labels: tf.Tensor, margin: float = 0.2) -> tf.Tensor:
    """Mean of max(d(a,p) - d(a,n) + margin, 0) over all anchor-positive pairs of the batch,
    with n mined online (semi-hard) in the batch; squared distances on the unit sphere."""
    distances = squared_distances(embeddings)
    positive = tf.logical_and(
        tf.equal(labels[:, None], labels[None, :]), tf.logical_not(tf.eye(tf.shape(labels)[0], dtype=tf.bool))
    )
    losses = tf.maximum(distances - semihard_negatives(distances, labels) + margin, 0.0)
    positive = tf.cast(positive, losses.dtype)
    return tf.reduce_sum(losses * positive) / tf.maximum(tf.reduce_sum(positive), 1.0)


def margin_logits(cosines: tf.Tensor, labels: tf.Tensor, kind: str, scale: float, margin: float) -> tf.Tensor:
    """Scaled logits of a margin softmax from (B, C) cosines between embeddings and class centres:
    the true class's cosine cos(theta) becomes cos(theta + margin) (ArcFace, additive angular
    margin) or cos(theta) - margin (CosFace); every logit is then times `scale`. Where theta +
    margin would pass pi, ArcFace's cos(theta) - margin * sin(margin) keeps the logit falling."""
    true = tf.one_hot(labels, tf.shape(cosines)[-1]) > 0.5
    cos = tf.clip_by_value(cosines, -1.0 + 1e-7, 1.0 - 1e-7)
    if kind == "arcface":
        sin = tf.sqrt(1.0 - tf.square(cos))
        turned = cos * math.cos(margin) - sin * math.sin(margin)  # cos(theta + m)
        target = tf.where(cos > math.cos(math.pi - margin), turned, cos - margin * math.sin(margin))
    elif kind == "cosface":
        target = cos - margin
    else:
        raise ValueError(f"unknown margin loss {kind!r}")
    return scale * tf.where(true, target, cos)


def margin_softmax(cosines: tf.Tensor, labels: tf.Tensor, kind: str, scale: float, margin: float) -> tf.Tensor:
    """Mean cross-entropy of margin_logits (ArcFace or CosFace) over the batch."""
    logits = margin_logits(cosines, labels, kind, scale, margin)
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))
