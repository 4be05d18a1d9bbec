"""Kaggle submission writers and checkers (written atomically, LF line endings, no index column)."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import pandas as pd

from facekp.data import kaggle_fkd
from facekp.data.identities import canonical
from facekp.errors import InputError
from facekp.fileio import atomic_write_text, open_text

KEYPOINT_HEADER = "RowId,Location"


def keypoint_locations(
    lookup: pd.DataFrame, image_ids: Sequence[int] | np.ndarray, predictions: np.ndarray
) -> np.ndarray:
    """Location of every IdLookupTable row, in its order, clipped to [0, 96].

    predictions: (N, 15, 2) pixels for the test images whose ImageIds are `image_ids`.
    """
    row_of_image = {int(image_id): i for i, image_id in enumerate(image_ids)}
    missing = ~lookup["ImageId"].isin(row_of_image)
    if missing.any():
        line = int(np.flatnonzero(missing)[0]) + 2
        raise InputError(
            f"IdLookupTable.csv: line {line}: ImageId {lookup['ImageId'].iloc[line - 2]} is not in test.csv"
        )
    column = {name: j for j, name in enumerate(kaggle_fkd.KEYPOINT_COLUMNS)}
    rows = lookup["ImageId"].map(row_of_image).to_numpy()
    cols = lookup["FeatureName"].map(column).to_numpy()
    flat = np.asarray(predictions, np.float64).reshape(len(image_ids), -1)
    return np.clip(flat[rows, cols], 0.0, float(kaggle_fkd.SIDE))


def write_keypoint_submission(path: str | os.PathLike, lookup: pd.DataFrame, locations: np.ndarray) -> None:
    lines = [KEYPOINT_HEADER] + [f"{row_id},{value:.4f}" for row_id, value in zip(lookup["RowId"], locations)]
    atomic_write_text(path, "\n".join(lines) + "\n")


def check_keypoint_submission(path: str | os.PathLike, lookup: pd.DataFrame) -> list[str]:
    """Problems of a submission against IdLookupTable, one line each (empty when it is valid)."""
    try:
        frame = pd.read_csv(open_text(path), dtype=str, keep_default_na=False)
    except Exception as e:
        return [f"{path}: unreadable CSV ({str(e).splitlines()[0][:200]})"]
    if list(frame.columns) != KEYPOINT_HEADER.split(","):
        return [f"{path}: header must be exactly '{KEYPOINT_HEADER}', got '{','.join(frame.columns)}'"]
    problems = []
    if len(frame) != len(lookup):
        problems.append(f"{path}: {len(frame)} rows, IdLookupTable has {len(lookup)}")
    n = min(len(frame), len(lookup))
    plain = frame["RowId"].str.fullmatch(r"[1-9][0-9]*").to_numpy()  # as Kaggle writes them: not 1.0, +1, 01
    if not plain.all():
        first = int(np.flatnonzero(~plain)[0])
        problems.append(
            f"{path}: line {first + 2}: RowId {frame['RowId'].iloc[first]!r} is not a plain positive "
            f"integer ({(~plain).sum()} such rows)"
        )
    ids = pd.to_numeric(frame["RowId"].where(plain), errors="coerce").to_numpy()
    wrong = np.flatnonzero(plain[:n] & (ids[:n] != lookup["RowId"].to_numpy()[:n]))
    if wrong.size:
        problems.append(
            f"{path}: line {wrong[0] + 2}: RowId {frame['RowId'].iloc[wrong[0]]!r}, "
            f"expected {lookup['RowId'].iloc[wrong[0]]} (IdLookupTable order)"
        )
    values = pd.to_numeric(frame["Location"], errors="coerce").to_numpy()
    bad = np.flatnonzero(~np.isfinite(values) | (values < 0) | (values > kaggle_fkd.SIDE))
    if bad.size:
        problems.append(
            f"{path}: line {bad[0] + 2}: Location {frame['Location'].iloc[bad[0]]!r} is not a "
            f"number in [0, {kaggle_fkd.SIDE}] ({bad.size} such rows)"
        )
    return problems


CLASS_HEADER = "ImageId,PredictedClass"


def competition_classes(
    predicted: np.ndarray, run_classes: Sequence[str], target_names: Sequence[str], source: str = "target_names.txt"
) -> np.ndarray:
    """Map predicted indices into `run_classes` onto the competition's class ids (target_names order,
    read from `source`)."""
    ids = {canonical(name): i for i, name in enumerate(target_names)}
    unknown = [name for name in run_classes if canonical(name) not in ids]
    if unknown:
        raise InputError(f"{source}: the model's people {unknown[:3]} are not among its {len(target_names)} names")
    mapping = np.array([ids[canonical(name)] for name in run_classes])
    return mapping[np.asarray(predicted, int)]


def write_class_submission(path: str | os.PathLike, classes: Sequence[int] | np.ndarray) -> None:
    """Kaggle LFW 2017: `ImageId,PredictedClass`, ImageId from 0 in X_test order."""
    lines = [CLASS_HEADER] + [f"{i},{int(c)}" for i, c in enumerate(classes)]
    atomic_write_text(path, "\n".join(lines) + "\n")
