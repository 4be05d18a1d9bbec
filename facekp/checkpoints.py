"""Self-describing run directories: config.json + tf.train.CheckpointManager (latest N and best).

runs/<name>/config.json   the full config, written before step 0
runs/<name>/ckpt/         the last `keep_checkpoints` checkpoints (step, model, optimizer, best)
runs/<name>/best/         the checkpoint with the best validation metric so far
TF writes a checkpoint's files first and then swaps the small `checkpoint` index file atomically,
so a crash mid-save leaves the previous checkpoint as the latest.
"""
import math
import os

import tensorflow as tf

from facekp import config as config_lib
from facekp.errors import InputError
from facekp.fileio import atomic_write_json


def write_config(run_dir, cfg):
    os.makedirs(run_dir, exist_ok=True)
    atomic_write_json(os.path.join(run_dir, "config.json"), config_lib.to_json(cfg))


class RunCheckpoints:
    """The training state of one run: step, best metric, model and optimizer."""

    def __init__(self, run_dir, model, optimizer=None, keep=3):
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        self.best = tf.Variable(math.inf, dtype=tf.float64, trainable=False, name="best")
        state = dict(step=self.step, best=self.best, model=model)
        self.training = optimizer is not None
        if self.training:
            optimizer.build(model.trainable_variables)  # create slots now so restore fills them
            state["optimizer"] = optimizer
        self.checkpoint = tf.train.Checkpoint(**state)
        self.latest = tf.train.CheckpointManager(self.checkpoint, os.path.join(run_dir, "ckpt"), keep)
        self.best_manager = tf.train.CheckpointManager(self.checkpoint, os.path.join(run_dir, "best"), 1)

    def restore(self, which="latest"):
        """Restore the newest checkpoint of `which` (latest | best); return its path or None."""
        manager = self.latest if which == "latest" else self.best_manager
        path = manager.latest_checkpoint
        if path is None:
            return None
        try:
            status = self.checkpoint.restore(path)
            if self.training:
                status.assert_existing_objects_matched()
            else:
                status.expect_partial()  # inference needs no optimizer slots
        except (AssertionError, ValueError, tf.errors.OpError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise InputError(f"{path}: checkpoint does not match this run's model ({first[:200]})")
        return path

    def save(self, step):
        self.step.assign(step)
        return self.latest.save(checkpoint_number=step)

    def save_best(self, step, value):
        self.step.assign(step)
        self.best.assign(value)
        return self.best_manager.save(checkpoint_number=step)
