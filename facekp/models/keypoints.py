"""Keypoint models, layer by layer: the seeds' plain CNN and a small residual net.

Every model maps (B, S, S, C) images in [0, 1] to (B, K, 2) keypoints in input pixels (x, y).
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf
from keras import layers

from facekp.config import KeypointConfig, RecognitionConfig
from facekp.errors import InputError

SEEDNET_MIN_INPUT = 102  # five valid convs and 2x2 pools leave at least one pixel


def _regression_output(x, cfg, num_points, name="keypoints"):
    """Dense -> (B, K, 2) pixels; a zero output means the image centre, +-1 the image edges."""
    x = layers.Dense(2 * num_points, kernel_initializer="zeros", name=f"{name}_dense")(x)
    half = cfg.input_size / 2.0
    x = layers.Rescaling(half, offset=half - 0.5, name=f"{name}_pixels")(x)
    return layers.Reshape((num_points, 2), name=name)(x)


def seednet(cfg: KeypointConfig, num_points: int) -> keras.Model:
    """The seeds' network (Udacity/PyTorch notebook): five valid conv+pool stages, FC 1024, dropout.

    At 224x224x1 this is exactly Conv 1->16 k7, 16->32 k5, 32->64 k3, 64->128 k3, 128->512 k3,
    each followed by 2x2 max-pool, then FC 8192->1024, dropout 0.6, FC 1024->2K.
    """
    if cfg.input_size < SEEDNET_MIN_INPUT:
        raise InputError(f"--input-size: seednet needs at least {SEEDNET_MIN_INPUT} pixels, got {cfg.input_size}")
    inputs = keras.Input((cfg.input_size, cfg.input_size, cfg.channels), name="image")
    x = inputs
    for i, (filters, kernel) in enumerate([(16, 7), (32, 5), (64, 3), (128, 3), (512, 3)]):
        x = layers.Conv2D(filters, kernel, activation="relu", name=f"conv{i + 1}")(x)
        x = layers.MaxPooling2D(2, name=f"pool{i + 1}")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(1024, activation="relu", name="fc1")(x)
    x = layers.Dropout(0.6, name="drop1")(x)
    return keras.Model(inputs, _regression_output(x, cfg, num_points), name="seednet")


def _conv_bn(x, filters, kernel, stride, name, sync, relu=True):
    """Conv, batch norm (statistics over all replicas when `sync`), ReLU."""
    x = layers.Conv2D(filters, kernel, strides=stride, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = layers.BatchNormalization(momentum=0.9, synchronized=sync, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x) if relu else x


def _residual_block(x, filters, stride, name, sync):
    """Basic block: two 3x3 conv-BN, identity (or 1x1 projection) shortcut."""
    shortcut = x
    if stride != 1 or x.shape[-1] != filters:
        shortcut = _conv_bn(x, filters, 1, stride, f"{name}_proj", sync, relu=False)
    x = _conv_bn(x, filters, 3, stride, f"{name}_a", sync)
    x = _conv_bn(x, filters, 3, 1, f"{name}_b", sync, relu=False)
    return layers.ReLU(name=f"{name}_out")(layers.Add(name=f"{name}_add")([x, shortcut]))


def cell_grid(input_size: int, h: int, w: int, dtype=tf.float32) -> tf.Tensor:
    """(h*w, 2) centres (x, y) of an h x w heatmap's cells in input pixels, row by row (cell j
    covers [j, j+1) * input_size/w)."""
    xs = (tf.range(w, dtype=dtype) + 0.5) * (input_size / w) - 0.5
    ys = (tf.range(h, dtype=dtype) + 0.5) * (input_size / h) - 0.5
    return tf.reshape(tf.stack(tf.meshgrid(xs, ys), axis=-1), [h * w, 2])


class SoftArgmax(layers.Layer):
    """Heatmaps (B, h, w, K) -> expected (x, y) per channel in input pixels (integral regression)."""

    def __init__(self, input_size, **kwargs):
        super().__init__(**kwargs)
        self.input_size = input_size

    def call(self, heatmaps: tf.Tensor) -> tf.Tensor:
        h, w, k = heatmaps.shape[1], heatmaps.shape[2], heatmaps.shape[3]
        prob = tf.nn.softmax(tf.reshape(heatmaps, [-1, h * w, k]), axis=1)  # (B, h*w, K)
        return tf.einsum("bnk,nc->bkc", prob, cell_grid(self.input_size, h, w, prob.dtype))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "input_size": self.input_size}


class HeatmapOffsets(layers.Layer):
    """[scores (B, h, w, K), offsets (B, h, w, 2K): each cell's (x, y) offset to each point, in
    cells] -> the points (B, K, 2) in input pixels: the best cell's centre plus its offset
    (heatmap + local offset).

    In training it returns the maps, concatenated (B, h, w, 3K): losses.heatmap_offsets scores them
    against the true points (the argmax has no gradient)."""

    def __init__(self, input_size, **kwargs):
        super().__init__(**kwargs)
        self.input_size = input_size

    def call(self, maps: list[tf.Tensor], training=None) -> tf.Tensor:
        scores, offsets = maps
        if training:
            return tf.concat([scores, offsets], axis=-1)
        h, w, k = scores.shape[1], scores.shape[2], scores.shape[3]
        best = tf.argmax(tf.reshape(scores, [-1, h * w, k]), axis=1, output_type=tf.int32)  # (B, K): each point's cell
        cell = tf.gather(cell_grid(self.input_size, h, w, scores.dtype), best)
        # offsets as (B, h*w*K, 2): point k's offset from cell n is row n*K + k
        offset = tf.gather(tf.reshape(offsets, [-1, h * w * k, 2]), best * k + tf.range(k), batch_dims=1)
        return cell + offset * (self.input_size / w)

    @staticmethod
    def split(maps: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """Its training output (B, h, w, 3K) -> the cell scores (B, h*w, K) and each cell's offsets
        to each point (B, h*w, K, 2), in cells."""
        h, w, k = maps.shape[1], maps.shape[2], maps.shape[3] // 3
        return tf.reshape(maps[..., :k], [-1, h * w, k]), tf.reshape(maps[..., k:], [-1, h * w, k, 2])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "input_size": self.input_size}


class ConventionOffsets(layers.Layer):
    """Points (B, K, 2) -> (B, heads * K, 2): the points, then the points plus each other labelling
    convention's learnt per-point offset (input pixels; zero at the start)."""

    def __init__(self, heads, **kwargs):
        super().__init__(**kwargs)
        self.heads = heads

    def build(self, input_shape):
        self.offsets = self.add_weight(
            name="offsets", shape=(self.heads - 1, input_shape[1], 2), initializer="zeros", dtype="float32"
        )

    def call(self, points: tf.Tensor) -> tf.Tensor:
        return tf.concat([points] + [points + self.offsets[h] for h in range(self.heads - 1)], axis=1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "heads": self.heads}


def with_convention_offsets(model: keras.Model, heads: int) -> keras.Model:
    """`model` with its points followed by those of the other conventions (ConventionOffsets)."""
    points = ConventionOffsets(heads, name="conventions", dtype="float32")(model.output)
    return keras.Model(model.input, points, name=model.name)


def resnet_trunk(inputs: keras.KerasTensor, cfg: KeypointConfig | RecognitionConfig) -> list[keras.KerasTensor]:
    """The residual trunk shared by keypoint and recognition models: the features of its four
    stages, at strides 4, 8, 16 and 32 (layer names match across tasks, for --init-from)."""
    w, sync = cfg.width, cfg.strategy != "default"
    if cfg.input_size % 32:
        raise InputError(f"--input-size: resnet needs a multiple of 32, got {cfg.input_size}")
    x = _conv_bn(inputs, w // 2, 3, 2, "stem1", sync)  # stride 2
    x = _conv_bn(x, w, 3, 2, "stem2", sync)  # stride 4
    stages = []
    for i, (filters, blocks) in enumerate([(w, 1), (2 * w, 2), (4 * w, 2), (8 * w, 1)]):
        for j in range(blocks):
            x = _residual_block(x, filters, 2 if (j == 0 and i > 0) else 1, f"s{i + 1}b{j + 1}", sync)
        stages.append(x)
    return stages


def resnet(cfg: KeypointConfig, num_points: int) -> keras.Model:
    """Small residual net at strides 4-32, with an integral (heatmap soft-argmax), a heatmap +
    offset, or a dense head.

    The integral and heatmap heads merge all stages top-down (FPN-style) into stride-4 heatmaps,
    keeping spatial layout; the regression head flattens the last stage into a dense layer.
    """
    w, sync = cfg.width, cfg.strategy != "default"
    inputs = keras.Input((cfg.input_size, cfg.input_size, cfg.channels), name="image")
    stages = resnet_trunk(inputs, cfg)
    x = stages[-1]
    if cfg.head == "regression":
        x = layers.Flatten(name="flatten")(x)
        x = layers.Dropout(0.3, name="drop")(x)
        return keras.Model(inputs, _regression_output(x, cfg, num_points), name="resnet_regression")
    top = None
    for i, feat in reversed(list(enumerate(stages))):
        lateral = layers.Conv2D(2 * w, 1, name=f"lateral{i + 1}")(feat)
        top = (
            lateral
            if top is None
            else layers.Add(name=f"merge{i + 1}")(
                [lateral, layers.UpSampling2D(2, interpolation="bilinear", name=f"up{i + 1}")(top)]
            )
        )
    x = _conv_bn(top, 2 * w, 3, 1, "head", sync)
    heatmaps = layers.Conv2D(num_points, 1, name="heatmaps")(x)
    if cfg.head == "heatmap":  # the score maps keep the integral head's layer name: --init-from one fills them
        offsets = layers.Conv2D(2 * num_points, 1, kernel_initializer="zeros", name="offsets")(x)
        points = HeatmapOffsets(cfg.input_size, name="keypoints", dtype="float32")([heatmaps, offsets])
        return keras.Model(inputs, points, name="resnet_heatmap")
    points = SoftArgmax(cfg.input_size, name="keypoints", dtype="float32")(heatmaps)  # float32 under mixed precision
    return keras.Model(inputs, points, name="resnet_integral")
