"""Self-describing run directories: config.json + tf.train.CheckpointManager (latest N and best).

runs/<name>/config.json   the full config, written before step 0
runs/<name>/ckpt/         the last `keep_checkpoints` checkpoints (step, model, optimizer, best)
runs/<name>/best/         the checkpoint with the best validation metric so far

Checkpoints are found from their own `ckpt-N.index` files, not from TF's `checkpoint` index file
(which training rewrites from what is on disk), and each is read whole before it is used: a
truncated or empty newest checkpoint is skipped, said aloud, and the next newest is used. TF
writes a checkpoint into `ckpt-N_temp/` and then renames it, so a crash mid-save leaves the
previous checkpoint intact; stale `_temp` folders are removed when training starts again.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import sys

import h5py
import keras
import numpy as np
import tensorflow as tf

from facekp import config as config_lib, models
from facekp.data.images import GRAY_WEIGHTS
from facekp.errors import InputError, TrainingStopped, first_line
from facekp.fileio import atomic_write_json, atomic_write_text

CHECKPOINT_INDEX = re.compile(r"^ckpt-(\d+)\.index$")
SET_ASIDE_PREFIX = "unreadable-"  # an unreadable checkpoint's files, renamed so they are never used


def write_config(run_dir: str, cfg: config_lib.TrainConfig) -> None:
    """Create the run dir with its config.json; a failed write leaves no half-made run dir."""
    created = not os.path.exists(run_dir)
    os.makedirs(run_dir, exist_ok=True)
    try:
        atomic_write_json(os.path.join(run_dir, "config.json"), config_lib.to_json(cfg))
    except OSError:
        if created:
            shutil.rmtree(run_dir, ignore_errors=True)
        raise


def checkpoints_on_disk(folder: str) -> list[str]:
    """Checkpoint prefixes (folder/ckpt-N) in `folder`, newest first, from their .index files."""
    if not os.path.isdir(folder):
        return []
    steps = sorted((int(m.group(1)) for m in map(CHECKPOINT_INDEX.match, os.listdir(folder)) if m), reverse=True)
    return [os.path.join(folder, f"ckpt-{step}") for step in steps]


def unreadable_reason(prefix: str) -> str | None:
    """Why the checkpoint `prefix` cannot be read (every tensor is read once), or None."""
    try:
        reader = tf.train.load_checkpoint(prefix)
        for name in reader.get_variable_to_shape_map():
            reader.get_tensor(name)
    except (tf.errors.OpError, IndexError, ValueError, RuntimeError, OSError) as e:
        return first_line(e)
    return None


def saved_state(folder: str) -> tuple[int, float] | None:
    """(step, best value as saved) of the newest checkpoint in `folder`, read without a model;
    None when there is none or it does not read whole (training's resume then deals with it)."""
    found = checkpoints_on_disk(folder)
    if not found or unreadable_reason(found[0]) is not None:
        return None
    try:
        reader = tf.train.load_checkpoint(found[0])
        step, best = (reader.get_tensor(f"{name}/.ATTRIBUTES/VARIABLE_VALUE") for name in ("step", "best"))
    except (tf.errors.OpError, ValueError, RuntimeError):  # not a training checkpoint (a slim export)
        return None
    return int(step), float(best)


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


class RunCheckpoints:
    """The training state of one run: step, best metric, model and optimizer.

    With an optimizer (training) it also writes: it removes stale `_temp` folders, sets aside
    unreadable checkpoints it skips and rewrites TF's index file from the checkpoints on disk.
    """

    def __init__(self, run_dir, model, optimizer=None, keep=3, save_dir=None):
        """`save_dir`: where saves go when not `run_dir` (a multi-worker run's other workers save
        to a folder of their own, removed after each save: the chief's run_dir is the run)."""
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        self.best = tf.Variable(math.inf, dtype=tf.float64, trainable=False, name="best")
        state = dict(step=self.step, best=self.best, model=model)
        self.training = optimizer is not None
        if self.training:
            optimizer.build(model.trainable_variables)  # create slots now so restore fills them
            state["optimizer"] = optimizer
        self.run_dir, self.model, self.keep = run_dir, model, keep
        self.checkpoint = tf.train.Checkpoint(**state)
        self.folders = {"latest": os.path.join(run_dir, "ckpt"), "best": os.path.join(run_dir, "best")}
        self.owner = save_dir in (None, run_dir)  # tidies run_dir's folders (stale saves, bad files)
        self.save_folders = {
            which: os.path.join(save_dir or run_dir, os.path.basename(f)) for which, f in self.folders.items()
        }
        self.managers = {}
        self.saved_step = None  # the step of the newest checkpoint known good (restored or saved)

    def newest_readable(self, which: str) -> tuple[str | None, list[tuple[str, str]]]:
        """The newest readable checkpoint of `which` (latest | best) or None, and the newer ones
        that could not be read [(prefix, reason)], each named on stderr."""
        skipped = []
        for prefix in checkpoints_on_disk(self.folders[which]):
            reason = unreadable_reason(prefix)
            if reason is None:
                return prefix, skipped
            warn(f"{prefix}: unreadable checkpoint skipped ({reason})")
            skipped.append((prefix, reason))
        return None, skipped

    def restore(self, which: str = "latest") -> str | None:
        """Restore the newest readable checkpoint of `which`; its path, or None if there is none.

        When training, checkpoints on disk that all fail to read are an error (never a silent
        fresh start), and unreadable ones newer than the one restored are set aside."""
        path, skipped = self.newest_readable(which)
        if path is None:
            if skipped and self.training:
                raise InputError(
                    f"{self.folders[which]}: none of its {len(skipped)} checkpoints can be read "
                    f"({os.path.basename(skipped[0][0])}: {skipped[0][1]}); move it away to "
                    "start this run over"
                )
            return None
        try:
            status = self.checkpoint.restore(path)
            if self.training:
                status.assert_existing_objects_matched()
            else:
                status.expect_partial()  # inference needs no optimizer slots
        except (AssertionError, ValueError, tf.errors.OpError) as e:
            raise InputError(f"{path}: checkpoint does not match this run's model ({first_line(e)[:200]})")
        if self.training and self.owner:
            for prefix, _ in skipped:
                _set_aside(prefix)
                warn(f"{os.path.basename(prefix)}'s files are kept as {SET_ASIDE_PREFIX}{os.path.basename(prefix)}.*")
        self.saved_step = int(self.step.numpy())
        return path

    def resume(self) -> str | None:
        """Training: restore the latest checkpoint (else the best one, if ckpt/ holds none), after
        removing stale `_temp` folders of killed saves; its path or None (a fresh start)."""
        for folder in self.folders.values() if self.owner else ():
            for name in os.listdir(folder) if os.path.isdir(folder) else []:
                if name.endswith("_temp"):
                    shutil.rmtree(os.path.join(folder, name), ignore_errors=True)
        path = self.restore("latest")
        if path is None and checkpoints_on_disk(self.folders["best"]):
            path = self.restore("best")
            warn(f"{self.folders['latest']}: no checkpoint; resuming from the best one, {path}")
        return path

    def restore_weights(self) -> str | None:
        """For inference and --init-from: the best checkpoint, else the latest (said aloud if the
        best cannot be read); its path or None."""
        path = self.restore("best")
        if path is None and checkpoints_on_disk(self.folders["best"]):
            warn(f"{self.folders['best']}: no readable checkpoint; using the latest checkpoint instead")
        return path or self.restore("latest")

    def restart_best(self, name: str) -> str | None:
        """Forget the best checkpoint (its metric was measured on another validation set): the next
        validation saves a new one. best/ is kept as `name` (replacing an earlier one so named);
        returns that folder, or None if there was no best/."""
        self.best.assign(math.inf)
        self.managers.pop("best", None)
        if not os.path.isdir(self.folders["best"]):
            return None
        aside = os.path.join(self.run_dir, name)
        if self.owner:
            shutil.rmtree(aside, ignore_errors=True)
            os.replace(self.folders["best"], aside)
        return aside

    def kept(self) -> str:
        """What a stopped run leaves: the words for the newest good checkpoint, or for none."""
        if self.saved_step is None:
            return "no checkpoint was saved"
        return f"the last good checkpoint (step {self.saved_step}) is kept"

    def save(self, step: int) -> str:
        return self._save("latest", step)

    def save_best(self, step: int, value: float) -> str:
        self.best.assign(value)
        return self._save("best", step)

    def _save(self, which, step):
        """Save after checking every weight is finite; a failed write (disk full, read-only)
        leaves no partial files and names the checkpoint and what is kept."""
        bad = [v.path for v in self.model.variables if not np.all(np.isfinite(v.numpy()))]
        if bad:
            raise TrainingStopped(
                f"weights became non-finite ({bad[0]}) by step {step}, so they were not saved; {self.kept()}"
            )
        self.step.assign(step)
        prefix = os.path.join(self.save_folders[which], f"ckpt-{step}")
        try:
            path = self._manager(which).save(checkpoint_number=step)
        except (tf.errors.OpError, OSError) as e:
            _remove_files(prefix)
            reason = re.sub(r"\S*_temp\S*?;\s*", "", first_line(e))  # not TF's temporary file name
            raise InputError(f"{prefix}: cannot save checkpoint ({reason}); {self.kept()}")
        if not self.owner:  # a worker's own copy: it took part in the save, the chief's is kept
            shutil.rmtree(self.save_folders[which], ignore_errors=True)
            self.managers.pop(which)
        if which == "latest":
            self.saved_step = step
        return path

    def _manager(self, which):
        """The CheckpointManager of `which`, made once, after TF's index file has been rewritten
        from the checkpoints on disk (a missing, empty or garbled index is no loss)."""
        if which not in self.managers:
            folder = self.save_folders[which]
            os.makedirs(folder, exist_ok=True)
            write_index(folder)
            self.managers[which] = tf.train.CheckpointManager(
                self.checkpoint, folder, self.keep if which == "latest" else 1
            )
        return self.managers[which]


def write_index(folder: str) -> None:
    """Rewrite TF's `checkpoint` index file (a text proto) from the checkpoints in `folder`, with
    their files' times, so that CheckpointManager keeps and deletes exactly these."""
    found = checkpoints_on_disk(folder)[::-1]  # oldest first
    lines = [f'model_checkpoint_path: "{os.path.basename(found[-1])}"'] if found else []
    lines += [f'all_model_checkpoint_paths: "{os.path.basename(p)}"' for p in found]
    lines += [f"all_model_checkpoint_timestamps: {os.path.getmtime(p + '.index')}" for p in found]
    index = os.path.join(folder, "checkpoint")
    if found:
        atomic_write_text(index, "\n".join(lines + ["last_preserved_timestamp: 0"]) + "\n")
    elif os.path.exists(index):
        os.remove(index)


def _set_aside(prefix):
    """Rename an unreadable checkpoint's files (folder/ckpt-N.*) so that nothing uses them again."""
    folder, name = os.path.split(prefix)
    for file in os.listdir(folder):
        if file.startswith(name + "."):
            os.replace(os.path.join(folder, file), os.path.join(folder, SET_ASIDE_PREFIX + file))


def _remove_files(prefix):
    """Remove what a failed save of `prefix` may have left: its _temp folder and its files."""
    folder, name = os.path.split(prefix)
    shutil.rmtree(prefix + "_temp", ignore_errors=True)
    for file in os.listdir(folder) if os.path.isdir(folder) else []:
        if file.startswith(name + "."):
            os.remove(os.path.join(folder, file))


def load_run(run_dir: str) -> tuple[config_lib.TrainConfig, keras.Model]:
    """(config, model with the best, else latest, checkpoint's weights) of any run directory:
    what inference, export, recognition and --init-from all load; the model is the inference one
    (cfg.for_inference(): float32, no training-only head)."""
    cfg = config_lib.load(run_dir)
    try:
        model = models.build(cfg.for_inference())
    except InputError as e:  # a config.json that no flag checked: say which file
        raise InputError(f"{os.path.join(run_dir, 'config.json')}: {e}") from None
    if not RunCheckpoints(run_dir, model).restore_weights():
        raise InputError(f"{run_dir}: no checkpoint to load (train it first)")
    return cfg, model


def init_from_run(model: keras.Model, run_dir: str) -> str:
    """Copy the weights of `run_dir`'s best (else latest) checkpoint whose layer path and shape
    match `model`'s (copy_matching); returns a one-line report of what was loaded and skipped."""
    _, source = load_run(run_dir)
    return copy_matching(model, {v.path: v.numpy() for v in source.variables}, run_dir)


def copy_matching(model: keras.Model, source_variables: dict[str, np.ndarray], origin: str) -> str:
    """Assign `source_variables` (path -> array) to `model`'s variables with the same path and
    shape (or a gray first convolution to an RGB one: rgb_kernel_of_gray); returns a one-line
    report of what was loaded and skipped."""
    loaded, skipped = 0, []
    for v in model.variables:
        match = source_variables.get(v.path)
        if match is not None and tuple(match.shape) != tuple(v.shape):
            match = rgb_kernel_of_gray(match, tuple(v.shape))
        if match is None and v.path.split("/")[0] in OUTPUT_LAYERS and v.path in source_variables:
            match = tiled_heads(source_variables[v.path], tuple(v.shape))
        if match is not None:
            v.assign(match)
            loaded += 1
        else:
            skipped.append(v.path)
    if loaded < len(model.variables) / 2:  # a trunk alone is most of any facekp model
        raise InputError(
            f"{origin}: only {loaded} of this model's {len(model.variables)} tensors match it "
            "by name and shape (a different --width or --model?)"
        )
    shown = ", ".join(skipped[:5]) + (f" and {len(skipped) - 5} more" if len(skipped) > 5 else "")
    return f"initialised from {origin}: {loaded} of {len(model.variables)} tensors loaded" + (
        f"; skipped (no match by name and shape): {shown}" if skipped else ""
    )


# The keypoint models' output layers, whose last axis has one entry per point (or per x, y of each).
OUTPUT_LAYERS = ("heatmaps", "offsets", "keypoints_dense")


def tiled_heads(values: np.ndarray, shape: tuple) -> np.ndarray | None:
    """A one-head model's output layer (kernel or bias, last axis K) for a model with one head per
    labelling convention (last axis heads * K): every head starts as the one. Else None."""
    if values.shape[:-1] != shape[:-1] or shape[-1] % values.shape[-1] or shape[-1] == values.shape[-1]:
        return None
    return np.tile(values, [1] * (values.ndim - 1) + [shape[-1] // values.shape[-1]])


def rgb_kernel_of_gray(kernel: np.ndarray, shape: tuple) -> np.ndarray | None:
    """A grayscale model's first convolution (kh, kw, 1, n) as an RGB one of `shape` (kh, kw, 3, n)
    that computes the same on any colour image (its gray value's weights spread by GRAY_WEIGHTS):
    a gray run starts an RGB run (--init-from, --channels 3) where it stands. Else None."""
    if kernel.ndim != 4 or kernel.shape[2] != 1 or shape != (*kernel.shape[:2], 3, kernel.shape[3]):
        return None
    return kernel * GRAY_WEIGHTS[0][None, None, :, None]


def load_backbone_weights(model: keras.Model, path: str) -> str:
    """--backbone-weights: a local Keras `.weights.h5` file (e.g. model.save_weights of a facekp
    model); tensors whose layer path and shape match are loaded, nothing is downloaded."""
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
