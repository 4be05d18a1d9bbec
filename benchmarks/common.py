"""Shared by the benchmarks: train a config within a wall-clock budget, time inference, NME figures,
dlib's 68-point predictor, small PNG figures."""

import dataclasses
import importlib.util
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from facekp.tfenv import quiet_tensorflow  # noqa: E402

quiet_tensorflow()

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from facekp import metrics, plots  # noqa: E402
from facekp.inference import Predictor  # noqa: E402
from facekp.schemes import IBUG68  # noqa: E402
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


def nme_figures(points, true):
    """NME mean, median and share of faces above 10% of predicted (N, 68, 2) against true points."""
    result = metrics.keypoint_metrics(np.array(points), true, np.ones(true.shape[:2]), IBUG68.norm_points)
    return {
        "nme": round(result["nme"], 4),
        "nme_median": round(result["nme_median"], 4),
        "failure_rate_10pct": round(result["failure_rate"], 4),
    }


def dlib_models():
    """dlib's HOG face detector and 68-point shape predictor (pip install -e .[dlib]: dlib-bin +
    face_recognition_models, which ships the .dat)."""
    import dlib

    # face_recognition_models' own lookup imports pkg_resources (gone from new setuptools): find the file
    package = importlib.util.find_spec("face_recognition_models").submodule_search_locations[0]
    dat = os.path.join(package, "models", "shape_predictor_68_face_landmarks.dat")
    return dlib.get_frontal_face_detector(), dlib.shape_predictor(dat)


def dlib_points(predictor, image, rect):
    """dlib's 68 points (68, 2) float32 in a dlib.rectangle of an RGB uint8 image, and the seconds they took."""
    start = time.perf_counter()
    shape = predictor(image, rect)
    return np.array([(p.x, p.y) for p in shape.parts()], np.float32), time.perf_counter() - start


def save_small_png(path, fig, dpi=72):
    """plots.save_figure, then the PNG quantized to 256 colours (a third of the bytes)."""
    plots.save_figure(path, fig, dpi=dpi)
    Image.open(path).convert("RGB").quantize(colors=256).save(path, optimize=True)


MATCH_IOU = 0.3  # a detection whose box overlaps the true keypoints' box less is another face (or none)


def matching(boxes, true_points):
    """Index of the (x, y, w, h) box with the highest IoU with the box of the true keypoints; None
    when no box reaches MATCH_IOU."""
    (x0, y0), (x1, y1) = true_points.min(0), true_points.max(0)
    best, best_iou = None, MATCH_IOU
    for k, (x, y, w, h) in enumerate(boxes):
        overlap = max(0.0, min(x + w, x1) - max(x, x0)) * max(0.0, min(y + h, y1) - max(y, y0))
        iou = overlap / (w * h + (x1 - x0) * (y1 - y0) - overlap)
        if iou >= best_iou:
            best, best_iou = k, iou
    return best
