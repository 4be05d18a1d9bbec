"""Pseudo-labels: a trained 68-point model's keypoints for a folder of face photos, written in
the youtube-faces-68 layout (training_frames_keypoints.csv beside training/, a link to the
photos), so that another model trains on them beside the labelled frames (train.py
--extra-data): a big teacher's keypoints as a small student's targets, on faces nobody labelled.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence

import numpy as np

from facekp import detect, photos
from facekp.config import load
from facekp.data import youtube68
from facekp.errors import InputError
from facekp.export import replace_atomically
from facekp.fileio import printable
from facekp.opencv import utf8_name
from facekp.inference import Predictor


def check_labelling_run(run: str) -> None:
    """A labelling run must be a 68-point keypoint run (or its export); config.load names a folder
    that is not a run."""
    task = load(run).task
    if task != "keypoints68":
        raise InputError(f"--run {run}: trained for {task}; labels come from a keypoints68 run")


def keypoints_by_run(
    rgb: np.ndarray, detections: list[detect.Detection], predictors: Sequence[Predictor], refine: int
) -> np.ndarray:
    """(R, K, 2): each predictor's keypoints of an image's largest detected face, as predict.py
    finds them (`refine` re-crops)."""
    return np.stack(
        [photos.keypoint_faces(rgb, detections, p, find_all=False, refine=refine)[0][2] for p in predictors]
    )


def on_photo(points: np.ndarray, shape: tuple) -> bool:
    """Whether all keypoints (..., K, 2) are finite and on the image of `shape` (h, w, ...)."""
    points = np.reshape(points, (-1, points.shape[-2], 2))
    inside = ~youtube68.outside_image(points, [shape[1::-1]] * len(points))
    return bool(np.all(np.isfinite(points)) and inside.all())


def label_folder(
    photos_dir: str,
    predictors: Sequence[Predictor],
    out_dir: str,
    refine: int = 2,
    detector: str = detect.DEFAULT_DETECTOR,
) -> dict[str, int]:
    """Label every photo under `photos_dir` (recursively) that training can decode: its largest
    detected face's keypoints, the mean of the predictors' (several teachers). Photos that cannot be
    read, without a face, or whose keypoints (any predictor's) run off the photo are named
    on stderr and left out. Writes `out_dir` whole or not at all; returns the counts."""
    conventions = sorted({predictor.convention for predictor in predictors})
    if len(conventions) > 1:
        raise InputError(
            f"--run: the runs label in different conventions ({' and '.join(conventions)}): give --convention"
        )
    paths = photos.find_images([photos_dir])
    usable = [p for p in paths if p.lower().endswith(youtube68.TRAINABLE_EXTENSIONS)]
    counts = {"photos": len(usable), "labelled": 0, "unreadable": 0, "no_face": 0, "off_photo": 0}
    counts["other_formats"] = len(paths) - len(usable)
    if not usable:
        raise InputError(f"{photos_dir}: no {'/'.join(youtube68.TRAINABLE_EXTENSIONS)} images found")
    rows = []
    for path in photos.file_bar(usable, "label"):  # the messages below through photos.say: lines of their own
        if not utf8_name(os.path.relpath(path, photos_dir)):  # the CSV names it so
            photos.say(f"{printable(path)}: file name is not UTF-8 (the CSV could not name it), skipped")
            counts["unreadable"] += 1
            continue
        try:
            rgb = photos.read_image(path)
        except Exception as e:  # InputError names the file; the file system and OpenCV raise many types
            photos.say(f"{photos.unreadable(path, e)}, skipped")
            counts["unreadable"] += 1
            continue
        detections = photos.detect_in(rgb, detector)
        if not detections:
            photos.say(f"{path}: no face found, skipped")
            counts["no_face"] += 1
            continue
        points = keypoints_by_run(rgb, detections, predictors, refine)
        if not on_photo(points, rgb.shape):  # any run's
            photos.say(f"{path}: keypoints off the photo, skipped")
            counts["off_photo"] += 1
            continue
        rows.append((os.path.relpath(path, photos_dir), points.mean(axis=0)))
    if not rows:
        raise InputError(f"{photos_dir}: no face labelled in its {len(usable)} images")
    counts["labelled"] = len(rows)
    replace_atomically(out_dir, lambda folder: write_layout(folder, rows, photos_dir, predictors[0].convention))
    return counts


def write_layout(folder: str, rows: list[tuple[str, np.ndarray]], photos_dir: str, convention: str) -> None:
    """`folder`/training_frames_keypoints.csv (header `,0,...,135`; name, x0, y0, ...),
    `folder`/training, a link to `photos_dir` (the names are relative to it), and
    `folder`/convention.txt, the labelling convention of the points (the labelling models')."""
    with open(os.path.join(folder, youtube68.CONVENTION_NAME), "w", encoding="utf-8") as f:
        f.write(convention + "\n")
    with open(os.path.join(folder, youtube68.CSV_NAME), "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow([""] + [str(i) for i in range(2 * youtube68.NUM_POINTS)])
        for name, points in rows:
            writer.writerow([name] + [f"{v:.2f}" for v in np.ravel(points)])
    os.symlink(os.path.realpath(photos_dir), os.path.join(folder, "training"), target_is_directory=True)
