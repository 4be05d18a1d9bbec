"""Shared by the benchmarks: train a config within a wall-clock budget, time inference."""

import dataclasses
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from facekp.tfenv import quiet_tensorflow  # noqa: E402

quiet_tensorflow()

import numpy as np  # noqa: E402

from facekp.inference import Predictor  # noqa: E402
from facekp.train_loop import train  # noqa: E402

CALIBRATION_STEPS = 40


def data_default(subdir):
    return os.path.join(os.environ.get("FACEKP_DATA", "../shared/data"), subdir)


def _metrics(run_dir, split):
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        return [row for row in map(json.loads, f) if row["split"] == split]


def last_train_speed(run_dir):
    return _metrics(run_dir, "train")[-1]["images_per_s"]


def training_minutes(run_dir):
    """Wall-clock minutes of the run's training (its last validation's elapsed time)."""
    return round(_metrics(run_dir, "val")[-1]["elapsed_s"] / 60.0, 1)


def train_within_budget(cfg, minutes, run_dir=None):
    """Time CALIBRATION_STEPS steps, size the run to `minutes`, train it.

    Returns (final validation metrics, training minutes, images/s, run dir, temp dir to clean up).
    """
    tmp = tempfile.TemporaryDirectory()
    calib = os.path.join(tmp.name, "calibrate")
    train(
        dataclasses.replace(
            cfg, steps=CALIBRATION_STEPS, eval_every=CALIBRATION_STEPS, log_every=CALIBRATION_STEPS // 2
        ),
        calib,
    )
    speed = last_train_speed(calib)
    steps = max(100, int(minutes * 60 * speed / cfg.batch_size * 0.92))  # ~8% goes to evaluation
    run = run_dir or os.path.join(tmp.name, "run")
    cfg = dataclasses.replace(cfg, steps=steps, eval_every=max(steps // 10, 1), ckpt_every=max(steps // 10, 1))
    start = time.perf_counter()
    results = train(cfg, run)
    return results, (time.perf_counter() - start) / 60.0, last_train_speed(run), run, tmp


def inference_ms(predictor, batch, repeats):
    """Milliseconds per face for model inference at a batch size (after one warm-up call)."""
    size, channels = predictor.cfg.input_size, predictor.cfg.channels
    images = np.random.default_rng(0).random((batch, size, size, channels), np.float32)
    predictor.predict(images, batch_size=batch)
    start = time.perf_counter()
    for _ in range(repeats):
        predictor.predict(images, batch_size=batch)
    return (time.perf_counter() - start) * 1000.0 / (repeats * batch)


def load_predictor(run):
    return Predictor.from_run(run)
