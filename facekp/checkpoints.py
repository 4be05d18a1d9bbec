"""Self-describing run directories: config.json + tf.train.CheckpointManager (latest N and best).

runs/<name>/config.json   the full config, written before step 0
runs/<name>/ckpt/         the last `keep_checkpoints` checkpoints (step, model, optimizer, best)
runs/<name>/best/         the checkpoint with the best validation metric so far
TF writes a checkpoint's files first and then swaps the small `checkpoint` index file atomically,
so a crash mid-save leaves the previous checkpoint as the latest.
"""
import math
import os
import re
import shutil

import tensorflow as tf

from facekp import config as config_lib
from facekp.errors import InputError
from facekp.fileio import atomic_write_json


def write_config(run_dir, cfg):
    """Create the run dir with its config.json; a failed write leaves no half-made run dir."""
    created = not os.path.exists(run_dir)
    os.makedirs(run_dir, exist_ok=True)
    try:
        atomic_write_json(os.path.join(run_dir, "config.json"), config_lib.to_json(cfg))
    except OSError:
        if created:
            shutil.rmtree(run_dir, ignore_errors=True)
        raise


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

    def restore_weights(self):
        """For inference and --init-from: the best checkpoint, else the latest; its path or None."""
        return self.restore("best") or self.restore("latest")

    def save(self, step):
        self.step.assign(step)
        return self.latest.save(checkpoint_number=step)

    def save_best(self, step, value):
        self.step.assign(step)
        self.best.assign(value)
        return self.best_manager.save(checkpoint_number=step)


def init_from_run(model, run_dir):
    """Copy the weights of `run_dir`'s best (else latest) checkpoint whose layer path and shape
    match `model`'s; returns a one-line report of what was loaded and skipped."""
    from facekp import tasks
    cfg = config_lib.load(run_dir)
    source = tasks.get(cfg.task).build_model(cfg)
    ckpts = RunCheckpoints(run_dir, source)
    if not ckpts.restore_weights():
        raise InputError(f"--init-from: {run_dir}: no checkpoint to load")
    return copy_matching(model, {v.path: v.numpy() for v in source.variables}, run_dir)


def copy_matching(model, source_variables, origin):
    """Assign `source_variables` (path -> array) to `model`'s variables with the same path and
    shape; returns a one-line report of what was loaded and skipped."""
    loaded, skipped = 0, []
    for v in model.variables:
        match = source_variables.get(v.path)
        if match is not None and tuple(match.shape) == tuple(v.shape):
            v.assign(match)
            loaded += 1
        else:
            skipped.append(v.path)
    if loaded < len(model.variables) / 2:  # a trunk alone is most of any facekp model
        raise InputError(f"{origin}: only {loaded} of this model's {len(model.variables)} tensors match it "
                         "by name and shape (a different --width or --model?)")
    shown = ", ".join(skipped[:5]) + (f" and {len(skipped) - 5} more" if len(skipped) > 5 else "")
    return (f"initialised from {origin}: {loaded} of {len(model.variables)} tensors loaded"
            + (f"; skipped (no match by name and shape): {shown}" if skipped else ""))


def load_backbone_weights(model, path):
    """--backbone-weights: a local Keras `.weights.h5` file (e.g. model.save_weights of a facekp
    model); tensors whose layer path and shape match are loaded, nothing is downloaded."""
    import h5py
    if not os.path.isfile(path):
        raise InputError(f"--backbone-weights: {path}: file not found")
    try:
        with h5py.File(path, "r") as f:
            names = []
            f.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
            arrays = {name: f[name][()] for name in names}
    except OSError as e:
        raise InputError(f"--backbone-weights: {path}: not a readable .weights.h5 file ({e})")
    source = {}
    for key, layer in zip(_keras_saving_names(model), model.layers):
        for i, w in enumerate(layer.weights):
            if f"layers/{key}/vars/{i}" in arrays:
                source[w.path] = arrays[f"layers/{key}/vars/{i}"]
    return copy_matching(model, source, path)


def _keras_saving_names(model):
    """The names Keras 3 gives `model.layers` in a .weights.h5 file (layers/<name>/vars/<i>): the
    class name in snake case, numbered in layer order (conv2d, conv2d_1, ...). Models that share
    a trunk (keypoint and recognition resnets) share these names for the trunk's layers."""
    counts, names = {}, []
    for layer in model.layers:
        base = re.sub("([a-z])([A-Z])", r"\1_\2", re.sub("(.)([A-Z][a-z]+)", r"\1_\2", type(layer).__name__)).lower()
        n = counts.get(base, 0)
        counts[base] = n + 1
        names.append(base if n == 0 else f"{base}_{n}")
    return names
