"""Export a keypoint run as a SavedModel (serving signature) and a TFLite model (`export.py`).

Both take an image batch (B, H, W, C) float32 of pixel values 0..255 and return keypoints
(B, K, 2) in those images' pixels: each image is treated as the face crop (the centred square of
its longer side, edges repeated). The TFLite model has a fixed input of the run's input size
(the crop itself) and needs only builtin ops.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from facekp.checkpoints import load_run, write_config
from facekp.config import KeypointConfig, TrainConfig
from facekp.data import augment
from facekp.errors import InputError
from facekp.fileio import atomic_write_bytes, public_mode, temporary_prefix
from facekp.inference import Predictor
from facekp.tflite import tflite_bytes


class KeypointServing(tf.Module):
    """Image batch in, keypoints in input-image pixels out."""

    def __init__(self, predictor):
        super().__init__()
        self.model = predictor.model
        self.size = predictor.cfg.input_size

    def __call__(self, images):
        shape = tf.cast(tf.shape(images)[1:3], tf.float32)  # (h, w)
        batch = tf.shape(images)[0]
        center = tf.tile(((shape[::-1] - 1.0) / 2.0)[None], [batch, 1])
        side = tf.fill([batch], tf.reduce_max(shape))
        A, t = augment.crop_affine(center, side, self.size)
        crops = augment.warp_images(images, A, t, self.size) / 255.0
        return augment.points_to_source(self.model(crops, training=False), A, t)


def export_savedmodel(predictor: Predictor, folder: str) -> str:
    serving = KeypointServing(predictor)
    channels = predictor.cfg.channels
    signature = tf.function(
        lambda images: {"keypoints": serving(images)},
        input_signature=[tf.TensorSpec([None, None, None, channels], tf.float32, name="images")],
    )
    replace_atomically(folder, lambda tmp: tf.saved_model.save(serving, tmp, signatures={"serving_default": signature}))
    return folder


def export_tflite(predictor: Predictor, path: str) -> str:
    """Fixed input (1, S, S, C): the crop itself, so the map back to its pixels is the identity
    and only TFLite builtin ops are needed (no Flex delegate)."""
    model, size, channels = predictor.model, predictor.cfg.input_size, predictor.cfg.channels
    data = tflite_bytes(
        lambda images: model(images / 255.0, training=False),
        tf.TensorSpec([1, size, size, channels], tf.float32, name="images"),
    )
    atomic_write_bytes(path, data)
    return path


# What a recognition run fits after training (threshold, SVM): a slim export keeps them beside it.
RUN_EXTRAS = ("recognition.json", "classifier.pkl", "trained_people.txt", "ensemble.json")


def export_slim(model: keras.Model, folder: str, run_dir: str, cfg: TrainConfig | None = None) -> str:
    """config.json (run_dir's, or `cfg`) + a weights-only checkpoint in best/ (no optimizer slots),
    and a recognition run's threshold and SVM: a run directory that Predictor.from_run or
    Recogniser loads, a third of the training checkpoint's size."""

    def write(tmp):
        copied = RUN_EXTRAS if cfg is not None else ("config.json", *RUN_EXTRAS)
        sources = [(run_dir, name) for name in copied] + [(folder, "README.md")]
        for source, name in sources:  # the model's own README, when re-exported over it, stays
            if os.path.isfile(os.path.join(source, name)):
                shutil.copy(os.path.join(source, name), os.path.join(tmp, name))
        if cfg is not None:
            write_config(tmp, cfg)
        save_weights(model, tmp)

    replace_atomically(folder, write)
    return folder


# What a soup's members share besides the network: the data and validation split (else one member
# trained on the soup's validation people) and the crop. Input size may differ (the network is
# fully convolutional), and so may what else they trained on.
SOUP_SHARED_FIELDS = ("data", "split_seed", "val_fraction", "margin")


def average_runs(run_dirs: Sequence[str]) -> tuple[KeypointConfig, keras.Model]:
    """The mean of keypoint runs' weights (a weight soup: fine-tunes of one model lie in one basin,
    and their mean can err less than each; README, "Weight soups"), with the first run's config,
    which records the runs and drops the calibration measured for other weights."""
    loaded = [load_run(run) for run in run_dirs]
    (cfg, model), first = loaded[0], run_dirs[0]
    for run, (member_cfg, member) in zip(run_dirs, loaded):
        if not isinstance(member_cfg, KeypointConfig):
            raise InputError(f"{run}: a {member_cfg.task} run; --average takes keypoint runs")
        if member_cfg.task != cfg.task or [w.shape for w in member.weights] != [w.shape for w in model.weights]:
            raise InputError(
                f"{run}: not the same network as {first} (task, --model, --width, --head or --channels differ)"
            )
        differing = [f for f in SOUP_SHARED_FIELDS if _comparable(member_cfg, f) != _comparable(cfg, f)]
        if differing:
            raise InputError(
                f"{run}: {', '.join(differing)} differ from {first}'s (a soup's members share their data, "
                "validation split and crop)"
            )
    model.set_weights([np.mean(tensors, axis=0) for tensors in zip(*(m.get_weights() for _, m in loaded))])
    cfg = dataclasses.replace(cfg, mirror_offsets=(), mirror_calibrated_for="", averaged_runs=tuple(run_dirs))
    return cfg, model


def _comparable(cfg: KeypointConfig, name: str) -> Any:
    """A config field's value, a data folder as the path it resolves to."""
    value = getattr(cfg, name)
    return os.path.realpath(value) if name == "data" else value


def save_weights(model: keras.Model, run_dir: str) -> None:
    """A weights-only checkpoint in run_dir/best/ (step 0, no optimizer slots): what load_run reads."""
    step = tf.Variable(0, dtype=tf.int64)
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(step=step, model=model), os.path.join(run_dir, "best"), 1)
    manager.save(checkpoint_number=0)


# What an export folder holds: an existing --out is replaced only when it holds nothing else.
EXPORT_CONTENTS = {
    "slim": {"config.json", "best", "README.md", *RUN_EXTRAS},
    "savedmodel": {"saved_model.pb", "fingerprint.pb", "variables", "assets"},
}


def check_export_folder(folder: str, kind: str, run_dirs: Sequence[str]) -> None:
    """Refuse an --out that replacing would lose work: a file, a folder holding one of the runs
    exported (a run itself, or runs/), or one holding anything an earlier `kind` export does not."""
    if not os.path.lexists(folder):
        return
    if not os.path.isdir(folder):
        raise InputError(f"{folder}: exists and is not a folder (--out names the export's folder)")
    real = os.path.realpath(folder)
    for run in run_dirs:
        run_real = os.path.realpath(run)
        if run_real == real or run_real.startswith(real.rstrip(os.sep) + os.sep):
            raise InputError(f"{folder}: holds the run {run}, which an export never replaces: choose another --out")
    others = sorted(set(os.listdir(folder)) - EXPORT_CONTENTS[kind])
    if others:
        raise InputError(
            f"{folder}: exists and is not an earlier {kind} export (it holds {others[0]}): "
            "choose another --out, or remove it first"
        )


def replace_atomically(folder: str, write: Callable[[str], Any]) -> None:
    """Write a folder under a temporary name beside it (write(temporary folder)), then swap it in;
    an earlier `folder` is moved aside first and deleted only once the new one is in place (through
    a link, the folder it names)."""
    folder = os.path.realpath(folder) if os.path.islink(folder) else folder  # a link: what it names is replaced
    parent = os.path.dirname(os.path.abspath(folder))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=temporary_prefix(folder), dir=parent)
    old = tmp + "-old"
    try:
        write(tmp)
        public_mode(tmp, directory=True)
        if os.path.exists(folder):
            os.replace(folder, old)
        os.replace(tmp, folder)
    finally:
        if os.path.exists(old) and os.path.exists(folder):  # the earlier folder, replaced
            shutil.rmtree(old)
        elif os.path.exists(old):  # the new one never arrived: the earlier one back
            os.replace(old, folder)
        if os.path.exists(tmp):
            shutil.rmtree(tmp)
