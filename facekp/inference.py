"""Load a trained keypoint model from a run directory and predict keypoints for face crops.

    predictor = Predictor.from_run("runs/kp68")
    points = predictor.predict(crops)      # (N, S, S, C) images in [0, 1] -> (N, K, 2) input pixels
"""
import numpy as np
import tensorflow as tf

from facekp import config as config_lib, tasks
from facekp.checkpoints import RunCheckpoints
from facekp.errors import InputError


class Predictor:
    def __init__(self, cfg, model):
        self.cfg, self.model = cfg, model
        self.scheme = tasks.get(cfg.task).scheme
        self._predict = tf.function(lambda images: model(images, training=False), reduce_retracing=True)

    @classmethod
    def from_run(cls, run_dir, which="best"):
        """Rebuild the model from config.json and restore the `best` (else latest) checkpoint."""
        cfg = config_lib.load(run_dir)
        model = tasks.get(cfg.task).build_model(cfg)
        ckpts = RunCheckpoints(run_dir, model)
        if not (ckpts.restore(which) or ckpts.restore("latest")):
            raise InputError(f"{run_dir}: no checkpoint to load (train it first)")
        return cls(cfg, model)

    def predict(self, images, batch_size=64):
        """Keypoints (N, K, 2) in input pixels for (N, S, S, C) float images in [0, 1]."""
        images = np.asarray(images, np.float32)
        return np.concatenate([self._predict(tf.constant(images[i:i + batch_size])).numpy()
                               for i in range(0, len(images), batch_size)])
