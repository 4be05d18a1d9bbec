"""Kaggle Facial Keypoints (15 points): the 96x96 images are the crops; rows may miss points."""

from __future__ import annotations

import numpy as np

from facekp import metrics
from facekp.config import KeypointConfig
from facekp.data import kaggle_fkd, youtube68
from facekp.data.samples import Samples
from facekp.errors import InputError
from facekp.fileio import open_text
from facekp.schemes import KAGGLE15
from facekp.tasks.keypoints import KeypointTask


def read_groups(path: str, count: int) -> list[str]:
    """One group per training row: a file of names, one a line, or a 68-point CSV (person of each file)."""
    try:
        with open_text(path) as f:
            lines = f.read().splitlines()
    except OSError as e:
        raise InputError(f"{path}: cannot read groups file ({e.strerror})")
    if lines and lines[0].startswith(",0,1,"):  # the 68-point CSV: rows match training.csv's
        lines = [youtube68.person_of(line.split(",", 1)[0]) for line in lines[1:]]
    lines = [line for line in lines if line]
    if len(lines) != count:
        raise InputError(f"{path}: {len(lines)} groups for {count} training rows")
    return lines


def load_kaggle15(cfg: KeypointConfig) -> Samples:
    """The 96x96 images are the crops already: the box is the whole image."""
    images_, points, mask = kaggle_fkd.read_training(cfg.data)
    n = len(images_)
    groups = read_groups(cfg.groups, n) if cfg.groups else [f"row{i}" for i in range(n)]
    mid = (kaggle_fkd.SIDE - 1) / 2.0
    boxes = np.tile([[mid, mid, kaggle_fkd.SIDE]], (n, 1)).astype(np.float32)
    return Samples(images_, np.nan_to_num(points), mask, boxes, groups, [f"line {i + 2}" for i in range(n)])


KAGGLE15_TASK = KeypointTask(
    "kaggle15", KAGGLE15, "kaggle-fkd-yt", load_kaggle15, best_metric="rmse", extra_metrics=metrics.kaggle_subset_rmse
)
