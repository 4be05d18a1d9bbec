"""Reader for the 68-point YouTube-Faces set: `training_frames_keypoints.csv` + an image folder.

CSV: header `,0,1,...,135`; each row: image file name, then x0,y0,...,x67,y67 in pixels of that
image (iBUG-68 order). The person is the file name before the last `_`.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass

import numpy as np

from facekp.errors import InputError
from facekp.fileio import open_text
from facekp.schemes import CONVENTIONS

CSV_NAME = "training_frames_keypoints.csv"
# Beside the CSV, the labels' convention when it is not YouTube-Faces' own: label.py writes the
# labelling model's (a model trained on 300-W's .pts files labels in 300-W's convention).
CONVENTION_NAME = "convention.txt"
NUM_POINTS = 68
# What training decodes (tf.io.decode_image: by content, so the name's extension is only a hint).
TRAINABLE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
# Real labels run past the frame edge where the frame cuts the jaw (up to ~11% of the frame here);
# points farther out than this fraction of the image mean the row and the image do not match.
OUTSIDE_TOLERANCE = 0.25


@dataclass
class Annotations:
    paths: list  # image file paths
    keypoints: np.ndarray  # (N, K, 2) float32, pixels of the image as shown (EXIF orientation applied), x then y
    groups: list  # person of each image, for grouped splits
    convention: str = "youtube"  # how the points are labelled (schemes.CONVENTIONS)
    from_csv: bool = True  # read from the CSV (points checked against the image later: check_inside)


def person_of(file_name: str) -> str:
    """`Abdel_Aziz_Al-Hakim_00.jpg` -> `Abdel_Aziz_Al-Hakim`; a name in a folder is that folder's
    person (`Aidan_Quinn/IMG_0001.jpg` -> `Aidan_Quinn`, LFW's layout)."""
    folder = os.path.basename(os.path.dirname(os.path.normpath(file_name)))
    if folder:
        return folder
    stem = os.path.splitext(os.path.basename(file_name))[0]
    return stem.rsplit("_", 1)[0] if "_" in stem else stem


def degenerate(points: np.ndarray) -> str | None:
    """Why a face's (K, 2) keypoints span no box (its crop would be singular), or None."""
    width, height = np.ptp(points, axis=0)
    if width == 0 and height == 0:
        return "all keypoints at one point"
    if width == 0:
        return "keypoint box has zero width (all x equal)"
    if height == 0:
        return "keypoint box has zero height (all y equal)"
    return None


def leaves_folder(name: str) -> bool:
    """Whether an image name from the CSV is absolute or climbs out of the folder with `..`."""
    name = os.path.normpath(name)
    return os.path.isabs(name) or name == os.pardir or name.startswith(os.pardir + os.sep)


def find_csv(data_dir: str) -> str:
    """The CSV inside `data_dir`, with a clear error when the folder or file is missing."""
    if not os.path.isdir(data_dir):
        raise InputError(f"{data_dir}: {'not a folder' if os.path.exists(data_dir) else 'data folder not found'}")
    path = os.path.join(data_dir, CSV_NAME)
    if os.path.isdir(path):
        raise InputError(f"{path}: a directory, not a CSV file")
    if not os.path.isfile(path):
        raise InputError(f"{path}: keypoint CSV not found")
    return path


def image_folder(data_dir: str) -> str:
    """Images live in `training/` beside the CSV (the course layout) or beside the CSV itself."""
    sub = os.path.join(data_dir, "training")
    if os.path.islink(sub) and not os.path.isdir(sub):
        raise InputError(f"{sub}: links to {os.readlink(sub)}, which is not a folder (moved or deleted?)")
    return sub if os.path.isdir(sub) else data_dir


def load(data_dir: str) -> Annotations:
    """Read and check the CSV; every named image must exist and be non-empty."""
    csv_path = find_csv(data_dir)
    folder = image_folder(data_dir)
    expected = 1 + 2 * NUM_POINTS
    paths, rows, groups = [], [], []
    with open_text(csv_path) as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None or len(header) != expected or header[1:] != [str(i) for i in range(2 * NUM_POINTS)]:
            raise InputError(f"{csv_path}: line 1: header must be ',0,1,...,{2 * NUM_POINTS - 1}' ({expected} columns)")
        for line, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) != expected:
                raise InputError(f"{csv_path}: line {line}: {len(row)} columns, expected {expected}")
            try:
                values = np.array(row[1:], dtype=np.float32)
            except ValueError:
                raise InputError(f"{csv_path}: line {line}: keypoints must be numbers")
            if not np.all(np.isfinite(values)):
                raise InputError(f"{csv_path}: line {line}: keypoints must be finite numbers")
            where = f"{csv_path}: line {line} ({row[0]})"
            problem = degenerate(values.reshape(NUM_POINTS, 2))
            if problem:
                raise InputError(f"{where}: {problem}")
            if leaves_folder(row[0]):
                raise InputError(f"{where}: image name leaves the image folder {folder}")
            path = os.path.join(folder, row[0])
            if os.path.isdir(path):
                raise InputError(f"{path}: a directory, not an image (line {line} of {csv_path})")
            if os.path.exists(path) and not os.path.isfile(path):
                raise InputError(f"{path}: not a regular file (a pipe or device; line {line} of {csv_path})")
            if not os.path.isfile(path):
                raise InputError(f"{path}: image named on line {line} of {csv_path} not found")
            if os.path.getsize(path) == 0:
                raise InputError(f"{path}: image file is empty (line {line} of {csv_path})")
            paths.append(path)
            rows.append(values.reshape(NUM_POINTS, 2))
            groups.append(person_of(row[0]))
    if not paths:
        raise InputError(f"{csv_path}: no data rows")
    return Annotations(paths, np.stack(rows), groups, read_convention(data_dir))


def read_convention(data_dir: str) -> str:
    """The labels' convention of a CSV folder: its convention.txt, else YouTube-Faces' own."""
    path = os.path.join(data_dir, CONVENTION_NAME)
    if not os.path.isfile(path):
        return "youtube"
    with open_text(path) as f:
        convention = f.read().strip()
    if convention not in CONVENTIONS:
        raise InputError(f"{path}: unknown convention '{convention[:40]}' ({' or '.join(CONVENTIONS)})")
    return convention


def outside_image(keypoints: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """(N, K, 2) bool: which coordinates of (N, K, 2) keypoints lie off their (N, 2) images
    (width, height) by more than OUTSIDE_TOLERANCE of the image's size."""
    sizes = np.asarray(sizes, np.float32)[:, None, :]  # (N, 1, 2): width, height
    margin = OUTSIDE_TOLERANCE * sizes
    return (keypoints < -margin) | (keypoints > sizes - 1 + margin)


def check_inside(annotations: Annotations, sizes: np.ndarray, rows: np.ndarray | None = None) -> None:
    """Every image's keypoints (of the rows marked in `rows`, default all) lie within the image,
    give or take OUTSIDE_TOLERANCE of its size."""
    outside = outside_image(annotations.keypoints, sizes)
    if rows is not None:
        outside &= np.asarray(rows, bool)[:, None, None]
    if outside.any():
        i, k, axis = np.argwhere(outside)[0]
        raise InputError(
            f"{annotations.paths[i]}: keypoint {k} ({'xy'[axis]} = {annotations.keypoints[i, k, axis]:g}) "
            f"lies outside the {int(sizes[i][0])}x{int(sizes[i][1])} image"
        )
