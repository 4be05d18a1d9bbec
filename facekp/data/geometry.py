"""Face geometry on numpy arrays: the keypoint box that every crop is placed from."""

import numpy as np


def face_boxes(keypoints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centre (N, 2) and side (N,) of each face's keypoint box (square: the longer side)."""
    lo, hi = np.nanmin(keypoints, axis=1), np.nanmax(keypoints, axis=1)
    return (lo + hi) / 2.0, (hi - lo).max(axis=1)
