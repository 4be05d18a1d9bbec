"""In-memory samples: decoded face crops with their keypoints, and grouped splits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass
class Samples:
    images: np.ndarray  # (N, H, W, C) uint8, cached crops (decoded once)
    keypoints: np.ndarray  # (N, K, 2) float32, pixels of `images`; NaN where missing
    mask: np.ndarray  # (N, K) float32, 1 where the point is labelled
    boxes: np.ndarray  # (N, 3) float32: face crop centre x, y and side, pixels of `images`
    groups: list  # person (or row id) of each sample, for grouped splits
    names: list  # file name or row id of each sample, for messages and outputs
    source: np.ndarray | None = None  # (N,) int: 0 from --data, i from the i-th --extra-data (never validated on)

    def __len__(self):
        return len(self.images)

    def subset(self, index: Sequence[int] | np.ndarray) -> Samples:
        index = np.asarray(index)
        return Samples(
            self.images[index],
            self.keypoints[index],
            self.mask[index],
            self.boxes[index],
            [self.groups[i] for i in index],
            [self.names[i] for i in index],
            None if self.source is None else self.source[index],
        )


def split_by_group(groups: Sequence[str], val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Train/validation indices with no group in both; the same seed gives the same split."""
    unique = np.array(sorted(set(groups)))
    rng = np.random.RandomState(seed)
    rng.shuffle(unique)
    n_val = max(1, int(round(len(unique) * val_fraction)))
    val_groups = set(unique[:n_val])
    is_val = np.array([g in val_groups for g in groups])
    return np.flatnonzero(~is_val), np.flatnonzero(is_val)


def stratified_split(labels: np.ndarray, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Train/validation indices holding out `val_fraction` of every class (at least one image of
    classes with two or more)."""
    rng = np.random.RandomState(seed)
    val = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        rng.shuffle(members)
        if len(members) >= 2:
            val.extend(members[: max(1, int(round(len(members) * val_fraction)))])
    is_val = np.zeros(len(labels), bool)
    is_val[val] = True
    return np.flatnonzero(~is_val), np.flatnonzero(is_val)
