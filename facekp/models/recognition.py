"""Recognition models: the keypoint models' residual trunk, pooled, with an identity or embedding head.

Both map (B, S, S, C) images in [0, 1] to a vector: class logits (B, num_classes) for the
identity classifier, or an L2-normalised embedding (B, D) for the FaceNet-style network.
The trunk's layer names are the keypoint resnet's, so `--init-from` a keypoint run loads it.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import layers

from facekp.config import RecognitionConfig
from facekp.models.keypoints import resnet_trunk


def _pooled_features(cfg):
    inputs = keras.Input((cfg.input_size, cfg.input_size, cfg.channels), name="image")
    x = resnet_trunk(inputs, cfg)[-1]
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    return inputs, layers.Dropout(cfg.dropout, name="drop")(x)


def identity_classifier(cfg: RecognitionConfig, num_classes: int) -> keras.Model:
    """Trunk -> global average pool -> dropout -> dense logits."""
    inputs, x = _pooled_features(cfg)
    return keras.Model(inputs, layers.Dense(num_classes, name="logits")(x), name="identity_resnet")


def embedding_network(cfg: RecognitionConfig, num_classes: int | None = None) -> keras.Model:
    """Trunk -> global average pool -> dense -> L2 normalisation (FaceNet's unit hypersphere)."""
    inputs, x = _pooled_features(cfg)
    x = layers.Dense(cfg.embedding_dim, name="embedding_dense")(x)
    x = layers.Lambda(lambda v: tf.math.l2_normalize(v, axis=1), name="embedding")(x)
    return keras.Model(inputs, x, name="embedding_resnet")
