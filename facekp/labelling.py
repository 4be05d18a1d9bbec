"""Pseudo-labels: a trained 68-point model's keypoints for a folder of face photos, written in
the youtube-faces-68 layout (training_frames_keypoints.csv beside training/, a link to the
photos), so that another model trains on them beside the labelled frames (train.py
--extra-data): a big teacher's keypoints as a small student's targets, on faces nobody labelled.
"""

from __future__ import annotations

import csv
import io
import os
import sys

import numpy as np
from tqdm import tqdm

from facekp import detect, photos
from facekp.data import youtube68
from facekp.errors import InputError
from facekp.export import replace_atomically
from facekp.fileio import atomic_write_text
from facekp.inference import Predictor


def label_folder(
    photos_dir: str, predictor: Predictor, out_dir: str, refine: int = 2, detector: str = detect.DEFAULT_DETECTOR
) -> dict[str, int]:
    """Label every photo under `photos_dir` (recursively): its largest detected face's keypoints
    after `refine` passes. Photos without a face, or whose keypoints run off the photo (beyond
    youtube68.OUTSIDE_TOLERANCE), are left out. Writes `out_dir` whole or not at all; returns counts."""
    if predictor.scheme.num_points != youtube68.NUM_POINTS:
        raise InputError(f"--run: a {predictor.scheme.num_points}-point model; labels are 68 points")
    paths = photos.find_images([photos_dir])
    if not paths:
        raise InputError(f"{photos_dir}: no image files found")
    rows, counts = [], {"photos": len(paths), "labelled": 0, "unreadable": 0, "no_face": 0, "off_photo": 0}
    for path in tqdm(paths, desc="label", unit="img", mininterval=0.5 if sys.stderr.isatty() else 30.0):
        try:
            rgb = photos.read_image(path)
        except InputError as e:
            print(f"{e}, skipped", file=sys.stderr)
            counts["unreadable"] += 1
            continue
        detections = photos.detect_in(rgb, detector)
        if not detections:
            counts["no_face"] += 1
            continue
        [(_, _, points)] = photos.keypoint_faces(rgb, detections, predictor, find_all=False, refine=refine)
        size = np.array(rgb.shape[1::-1], np.float32)
        margin = youtube68.OUTSIDE_TOLERANCE * size
        if np.any(points < -margin) or np.any(points > size - 1 + margin):
            counts["off_photo"] += 1
            continue
        rows.append((os.path.relpath(path, photos_dir), points))
    if not rows:
        raise InputError(f"{photos_dir}: no face found in its {len(paths)} images")
    counts["labelled"] = len(rows)
    replace_atomically(out_dir, lambda folder: write_layout(folder, rows, photos_dir))
    return counts


def write_layout(folder: str, rows: list[tuple[str, np.ndarray]], photos_dir: str) -> None:
    """`folder`/training_frames_keypoints.csv (header `,0,...,135`; name, x0, y0, ...) and
    `folder`/training, a link to `photos_dir` (the names are relative to it)."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow([""] + [str(i) for i in range(2 * youtube68.NUM_POINTS)])
    for name, points in rows:
        writer.writerow([name] + [f"{v:.2f}" for v in np.ravel(points)])
    atomic_write_text(os.path.join(folder, youtube68.CSV_NAME), text.getvalue())
    os.symlink(os.path.abspath(photos_dir), os.path.join(folder, "training"), target_is_directory=True)
