"""Reader for Kaggle "Facial Keypoints Detection" files: training.csv / test.csv (plain or zipped)
and IdLookupTable.csv.

training.csv: 30 keypoint columns (x, y of 15 points, in KAGGLE15 order) then `Image`, 96x96
grayscale pixels as space-separated integers. Empty cells are missing keypoints: kept as NaN
with a mask, never dropped or filled in. test.csv: `ImageId,Image`.
"""

from __future__ import annotations

import os
import zipfile
import zlib
from collections.abc import Sequence

import numpy as np
import pandas as pd

from facekp.errors import InputError
from facekp.fileio import open_text
from facekp.schemes import KAGGLE15_NAMES

SIDE = 96
PIXELS = SIDE * SIDE
KEYPOINT_COLUMNS = [f"{name}_{axis}" for name in KAGGLE15_NAMES for axis in ("x", "y")]


def find(data_dir: str, stem: str) -> str:
    """`stem`.csv or `stem`.zip inside data_dir, or data_dir itself when it is that file."""
    if os.path.isfile(data_dir):
        return data_dir
    if not os.path.isdir(data_dir):
        raise InputError(f"{data_dir}: data folder not found")
    for name in (f"{stem}.csv", f"{stem}.zip"):
        path = os.path.join(data_dir, name)
        if os.path.isfile(path):
            return path
        if os.path.exists(path):
            raise InputError(f"{path}: not a regular file")
    raise InputError(f"{os.path.join(data_dir, stem)}.csv: not found (nor {stem}.zip)")


def _csv_bytes(path):
    """The file's bytes; for a .zip, those of the one CSV inside."""
    if not path.lower().endswith(".zip"):
        with open(path, "rb") as f:
            return f.read()
    try:
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if n.lower().endswith(".csv") and not n.startswith("__MACOSX/")]
            if not names:
                raise InputError(f"{path}: no CSV file inside")
            if len(names) > 1:
                raise InputError(f"{path}: {len(names)} CSV files inside ({', '.join(names[:3])}), expected one")
            return archive.read(names[0])
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as e:
        raise InputError(f"{path}: unreadable zip file ({e})")


def _read_csv(path, columns):
    text = open_text(_csv_bytes(path))
    try:
        frame = pd.read_csv(text, dtype=str, keep_default_na=False)
    except Exception as e:  # pandas raises many types for a bad CSV
        raise InputError(f"{path}: unreadable CSV ({str(e).splitlines()[0][:200]})")
    if list(frame.columns) != columns:
        wrong = next(
            (
                f"column {i + 1} is {got!r}, not {want!r}"
                for i, (got, want) in enumerate(zip(frame.columns, columns))
                if got != want
            ),
            "",
        )
        header = ",".join(columns) if len(columns) <= 4 else f"{','.join(columns[:3])},...,{columns[-1]}"
        raise InputError(
            f"{path}: line 1: header must be {header} ({len(columns)} columns), "
            f"got {wrong or f'{len(frame.columns)} columns'}"
        )
    if len(frame) == 0:
        raise InputError(f"{path}: no data rows")
    return frame


def parse_images(strings: pd.Series | Sequence[str], path: str) -> np.ndarray:
    """Pixel strings -> (N, 96, 96, 1) uint8, vectorised; names the first bad row (CSV line)."""
    strings = pd.Series(strings).str.strip()
    joined = " ".join(strings)
    allowed = np.zeros(256, bool)
    allowed[list(b"0123456789 ")] = True
    if not allowed[np.frombuffer(joined.encode("utf-8"), np.uint8)].all():
        row = int(np.flatnonzero(~strings.str.fullmatch(r"[0-9 ]*").to_numpy())[0])
        raise InputError(f"{path}: line {row + 2}: Image is not space-separated integers")
    empty = np.flatnonzero(strings.str.len().to_numpy() == 0)
    if empty.size:
        raise InputError(f"{path}: line {empty[0] + 2}: empty Image cell")
    counts = (strings.str.count(" ") + 1).to_numpy()
    bad = np.flatnonzero(counts != PIXELS)
    if bad.size:
        raise InputError(f"{path}: line {bad[0] + 2}: Image has {counts[bad[0]]} values, expected {PIXELS}")
    values = np.fromstring(joined, dtype=np.int64, sep=" ")  # C parser: ~25x faster than str.split
    if values.size != len(strings) * PIXELS:
        raise InputError(f"{path}: Image cells are not {PIXELS} space-separated integers each")
    values = values.reshape(-1, SIDE, SIDE, 1)
    over = np.flatnonzero(values.reshape(len(values), -1).max(axis=1) > 255)
    if over.size:
        raise InputError(f"{path}: line {over[0] + 2}: Image has values above 255")
    return values.astype(np.uint8)


def parse_keypoints(frame: pd.DataFrame, path: str) -> tuple[np.ndarray, np.ndarray]:
    """(N, 15, 2) float32 pixels with NaN where missing, and the (N, 15) mask."""
    cells = frame[KEYPOINT_COLUMNS]
    values = pd.DataFrame({c: pd.to_numeric(cells[c].replace("", np.nan), errors="coerce") for c in cells})
    non_numeric = (values.isna() & (cells != "")).to_numpy()
    if non_numeric.any():
        row, col = np.argwhere(non_numeric)[0]
        raise InputError(f"{path}: line {row + 2}: {KEYPOINT_COLUMNS[col]} is not a number: {cells.iat[row, col]!r}")
    points = values.to_numpy(np.float32).reshape(-1, len(KAGGLE15_NAMES), 2)
    outside = (points < 0) | (points > SIDE)
    if outside.any():
        row, k, axis = np.argwhere(outside)[0]
        raise InputError(
            f"{path}: line {row + 2}: {KEYPOINT_COLUMNS[2 * k + axis]} = {points[row, k, axis]} "
            f"is outside the {SIDE}x{SIDE} image"
        )
    half_missing = np.isnan(points).any(axis=2) != np.isnan(points).all(axis=2)
    if half_missing.any():
        row, k = np.argwhere(half_missing)[0]
        raise InputError(f"{path}: line {row + 2}: {KAGGLE15_NAMES[k]} has only one of x and y")
    return points, (~np.isnan(points[..., 0])).astype(np.float32)


def read_training(data_dir: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """images (N,96,96,1) uint8, keypoints (N,15,2) with NaN, mask (N,15)."""
    path = find(data_dir, "training")
    frame = _read_csv(path, KEYPOINT_COLUMNS + ["Image"])
    points, mask = parse_keypoints(frame, path)
    if not mask.any():
        raise InputError(f"{path}: no labelled keypoints (every keypoint cell is empty)")
    return parse_images(frame["Image"], path), points, mask


def read_test(data_dir: str) -> tuple[np.ndarray, np.ndarray]:
    """ImageIds (N,) and images (N,96,96,1) uint8."""
    path = find(data_dir, "test")
    frame = _read_csv(path, ["ImageId", "Image"])
    return whole_numbers(frame, "ImageId", path, unique=True), parse_images(frame["Image"], path)


def whole_numbers(frame: pd.DataFrame, column: str, path: str, unique: bool) -> np.ndarray:
    """A column of ids as int64: whole numbers from 0 to 2**31 - 1, each once when `unique`."""
    numbers = pd.to_numeric(frame[column], errors="coerce")
    bad = numbers.isna() | (numbers != numbers.round()) | (numbers < 0) | (numbers >= 2**31)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"{path}: line {row + 2}: {column} {frame[column].iloc[row]!r} is not a whole number from 0 to 2**31 - 1"
        )
    repeated = np.flatnonzero(numbers.duplicated()) if unique else []
    if len(repeated):
        row = int(repeated[0])
        raise InputError(f"{path}: line {row + 2}: {column} {int(numbers.iloc[row])} repeats an earlier line's")
    return numbers.to_numpy(np.int64)


def read_lookup(data_dir: str) -> pd.DataFrame:
    """IdLookupTable rows: RowId, ImageId, FeatureName (Location is what we fill in)."""
    path = find(data_dir, "IdLookupTable")
    frame = _read_csv(path, ["RowId", "ImageId", "FeatureName", "Location"])
    unknown = ~frame["FeatureName"].isin(KEYPOINT_COLUMNS)
    if unknown.any():
        row = int(np.flatnonzero(unknown)[0])
        raise InputError(f"{path}: line {row + 2}: unknown FeatureName {frame['FeatureName'].iloc[row]!r}")
    for column, unique in (("RowId", True), ("ImageId", False)):
        frame[column] = whole_numbers(frame, column, path, unique)
    return frame[["RowId", "ImageId", "FeatureName"]]
