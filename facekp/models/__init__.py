"""Model functions, chosen by name: each takes a config (and the number of points) and returns a
tf.keras.Model mapping (B, S, S, C) images in [0, 1] to (B, K, 2) keypoints in input pixels."""
from facekp.errors import InputError
from facekp.models import keypoints

KEYPOINT_MODELS = {"seednet": keypoints.seednet, "resnet": keypoints.resnet}


def build_keypoint_model(cfg, num_points):
    if cfg.model not in KEYPOINT_MODELS:
        raise InputError(f"--model: unknown model '{cfg.model}' (choose from {', '.join(KEYPOINT_MODELS)})")
    return KEYPOINT_MODELS[cfg.model](cfg, num_points)
