"""Recognition models: the keypoint models' residual trunk, pooled (or flattened), with an identity or embedding head.

Both map (B, S, S, C) images in [0, 1] to a vector: class logits (B, num_classes) for the
identity classifier, or an L2-normalised embedding (B, D) for the FaceNet-style network.
The trunk's layer names are the keypoint resnet's, so `--init-from` a keypoint run loads it.
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf
from keras import layers

from facekp.config import RecognitionConfig, from_json
from facekp.models.keypoints import resnet_trunk


def _trunk_features(cfg, flatten=False):
    """The image input and the trunk's last features, averaged over positions (or flattened), after dropout."""
    inputs = keras.Input((cfg.input_size, cfg.input_size, cfg.channels), name="image")
    x = resnet_trunk(inputs, cfg)[-1]
    x = layers.Flatten(name="flatten")(x) if flatten else layers.GlobalAveragePooling2D(name="pool")(x)
    return inputs, layers.Dropout(cfg.dropout, name="drop")(x)


def identity_classifier(cfg: RecognitionConfig, num_classes: int) -> keras.Model:
    """Trunk -> global average pool -> dropout -> dense logits."""
    inputs, x = _trunk_features(cfg)
    return keras.Model(inputs, layers.Dense(num_classes, name="logits")(x), name="identity_resnet")


class ClassCentres(layers.Layer):
    """The margin head of ArcFace/CosFace training: one unit-length centre per training person.
    In training it appends the cosines between the embeddings and every centre to its output
    ((B, D) -> (B, D + C), read by losses.margin_softmax); in inference it passes embeddings
    through, so the model's output stays the (B, D) embedding."""

    def __init__(self, num_classes: int, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = num_classes

    def build(self, input_shape):
        self.centres = self.add_weight(
            shape=(input_shape[-1], self.num_classes), initializer="glorot_uniform", name="centres"
        )

    def call(self, embeddings, training=None):
        if not training:
            return embeddings
        cosines = tf.matmul(embeddings, tf.math.l2_normalize(self.centres, axis=0))
        return tf.concat([embeddings, cosines], axis=1)

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes}


def embedding_network(cfg: RecognitionConfig, name: str = "embedding_resnet") -> keras.Model:
    """Trunk -> global average pool (or flatten, cfg.embedding_head) -> dense -> L2 normalisation
    (FaceNet's unit hypersphere); with a margin loss, batch normalisation before the L2
    normalisation and the class centres after it (ClassCentres: a training-only head, left out
    when cfg.margin_classes is 0)."""
    inputs, x = _trunk_features(cfg, flatten=cfg.embedding_head == "flatten")
    x = layers.Dense(cfg.embedding_dim, name="embedding_dense")(x)
    margin = cfg.embedding_loss != "triplet"
    if margin:  # ArcFace's BN on the embedding: centred features spread over the sphere (else they collapse)
        x = layers.BatchNormalization(name="embedding_bn")(x)
    # float32 under --mixed-precision: a float16 sum of squares overflows past norm 256
    x = layers.Lambda(lambda v: tf.math.l2_normalize(v, axis=1), name="embedding", dtype="float32")(x)
    if margin and cfg.margin_classes:
        x = ClassCentres(cfg.margin_classes, name="class_centres")(x)
    return keras.Model(inputs, x, name=name)


def member_configs(cfg: RecognitionConfig) -> list[RecognitionConfig]:
    """The inference configs of an ensemble's members (config.json's "members")."""
    return [from_json(member, "config.json: members").for_inference() for member in cfg.members]


def embedding_ensemble(cfg: RecognitionConfig) -> keras.Model:
    """Member embedding networks on the same face, their unit embeddings side by side, scaled to unit
    length again: the squared distance of two faces is the mean of the members' squared distances."""
    inputs = keras.Input((cfg.input_size, cfg.input_size, cfg.channels), name="image")
    members = [embedding_network(member, name=f"member{i}") for i, member in enumerate(member_configs(cfg))]
    x = layers.Concatenate(name="members")([member(inputs) for member in members])
    x = layers.Rescaling(1.0 / math.sqrt(len(members)), name="embedding")(x)
    return keras.Model(inputs, x, name="embedding_ensemble")
