"""Model functions, chosen by the config: `build(cfg)` returns any task's tf.keras.Model.

Keypoint models map (B, S, S, C) images in [0, 1] to (B, K, 2) keypoints in input pixels;
recognition models map them to class logits (identity) or an L2-normalised embedding (one network's,
or an ensemble's: several trained networks side by side).
"""

import keras

from facekp.config import KeypointConfig, RecognitionConfig, TrainConfig
from facekp.errors import InputError
from facekp.models import keypoints, recognition
from facekp.schemes import scheme_of

KEYPOINT_MODELS = {"seednet": keypoints.seednet, "resnet": keypoints.resnet}


def build_keypoint_model(cfg: KeypointConfig, num_points: int) -> keras.Model:
    """The keypoint model of `cfg`, with one head of `num_points` per labelling convention
    (cfg.conventions heads), or one head and the other conventions as learnt offsets from it."""
    heads = len(cfg.head_conventions)
    if cfg.conventions == "offset":
        return keypoints.with_convention_offsets(KEYPOINT_MODELS[cfg.model](cfg, num_points), heads)
    return KEYPOINT_MODELS[cfg.model](cfg, num_points * heads)


def build(cfg: TrainConfig) -> keras.Model:
    """The model of a run's config: its task decides the head, its fields the rest. With
    --mixed-precision its layers compute in float16 (weights stay float32) and its outputs are
    cast back to float32."""
    if not cfg.mixed_precision:
        return _build(cfg)
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = _build(cfg)
    finally:
        keras.mixed_precision.set_global_policy(previous)
    outputs = keras.layers.Activation("linear", dtype="float32", name="float32_output")(model.output)
    return keras.Model(model.input, outputs, name=model.name)


def _build(cfg: TrainConfig) -> keras.Model:
    if isinstance(cfg, RecognitionConfig) and cfg.task == "identity":
        if not cfg.class_names:
            raise InputError("identity run without class names in its config")
        return recognition.identity_classifier(cfg, len(cfg.class_names))
    if isinstance(cfg, RecognitionConfig) and cfg.members:
        return recognition.embedding_ensemble(cfg)
    if isinstance(cfg, RecognitionConfig):
        return recognition.embedding_network(cfg)
    return build_keypoint_model(cfg, scheme_of(cfg.task).num_points)
