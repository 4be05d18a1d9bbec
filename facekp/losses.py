"""Keypoint losses: plain functions of tensors, picked by name from the config.

pred, true: (B, K, 2) keypoints in input pixels, x then y; mask: (B, K), 1 where labelled.
Unlabelled points contribute nothing, not even NaN, and have zero gradient.
"""
import math

import tensorflow as tf


def _masked_mean(per_coord, mask):
    """Mean of (B,K,2) values over the labelled points."""
    weights = tf.cast(mask, per_coord.dtype)[..., None] * tf.ones_like(per_coord)
    return tf.reduce_sum(per_coord * weights) / tf.maximum(tf.reduce_sum(weights), 1.0)


def _error(pred, true, mask):
    true = tf.where(mask[..., None] > 0, true, pred)  # missing labels: zero error, finite gradient
    return pred - true


def l1(pred, true, mask):
    return _masked_mean(tf.abs(_error(pred, true, mask)), mask)


def mse(pred, true, mask):
    return _masked_mean(tf.square(_error(pred, true, mask)), mask)


def wing(pred, true, mask, w=10.0, eps=2.0):
    """Wing loss (Feng et al. 2018): log-shaped for small errors, L1 for large ones (pixels)."""
    x = tf.abs(_error(pred, true, mask))
    c = w - w * math.log(1.0 + w / eps)
    return _masked_mean(tf.where(x < w, w * tf.math.log1p(x / eps), x - c), mask)


KEYPOINT_LOSSES = {"wing": wing, "l1": l1, "mse": mse}
